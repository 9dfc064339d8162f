/**
 * Before backends start: find the container engine once, and turn container servers that cannot run as
 * containers here (no engine, or an image that is not built and may not be pulled) into their `fallback`
 * process, loudly. Servers without a fallback stay containers and fail to start with the reason.
 */
import type { ResolvedConfig, ResolvedContainerServerConfig, ResolvedServerConfig, ResolvedStdioServerConfig } from "../../config/index.ts";
import type { ContainerContext } from "./container-transport.ts";
import { ownerId } from "./ownership.ts";
import { containerUlimits, findRuntime, inspectImage } from "./runtime.ts";

export interface ContainerPlan {
  servers: ResolvedServerConfig[];
  /** Undefined when no server uses containers. */
  context: ContainerContext | undefined;
  warnings: string[];
}

export async function planContainers(config: ResolvedConfig, pathEnv = process.env.PATH ?? ""): Promise<ContainerPlan> {
  if (!config.servers.some((server) => server.transport === "container")) return { servers: config.servers, context: undefined, warnings: [] };
  const runtime = findRuntime(config.container, pathEnv);
  const context: ContainerContext = {
    runtime,
    owner: ownerId(config.dataDir),
    allowedRoots: config.container.allowedRoots,
    gatewayState: { dataDir: config.dataDir, auditDir: config.audit.dir },
    ulimits: containerUlimits(),
  };
  const warnings: string[] = [];
  const servers = await Promise.all(
    config.servers.map(async (server): Promise<ResolvedServerConfig> => {
      if (server.transport !== "container") return server;
      const fallback = server.fallback;
      if (fallback === undefined) return server;
      let why: string | undefined;
      if (runtime === undefined) {
        why = `no container runtime found (${config.container.runtime === "auto" ? "podman or docker" : config.container.runtime} on PATH)`;
      } else if (server.pull === "never") {
        const image = await inspectImage(runtime, server.image);
        if (!image.present) why = `image ${server.image} is not built (npm run servers:build)`;
      }
      if (why === undefined) return server;
      warnings.push(`server "${server.name}": ${why}; running it as a plain process (${fallback.command}), WITHOUT container isolation`);
      return asProcess(server, fallback);
    }),
  );
  return { servers, context, warnings };
}

type Fallback = NonNullable<ResolvedContainerServerConfig["fallback"]>;

/** Every setting but the container's own carries over (name, alias, tools, timeouts, identity, ...). */
function asProcess(server: ResolvedContainerServerConfig, fallback: Fallback): ResolvedStdioServerConfig {
  const { transport, image, pull, digest, args, env, volumes, network, user, resources, scope, maxInstances, idleTimeoutMs, healthCheck, fallback: _, ...common } = server;
  return { ...common, transport: "stdio", command: fallback.command, args: fallback.args, env: fallback.env, cwd: fallback.cwd };
}
