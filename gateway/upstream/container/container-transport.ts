/**
 * A backend in a container: `podman|docker run --interactive --rm …` as a supervised child, speaking MCP over
 * the attached stdin/stdout (framing, stderr logging and restarts are the stdio transport's). The container
 * outlives a killed CLI process (conmon / containerd hold it), so stopping also removes it by name, and so does
 * the gateway's 'exit' handler.
 */
import type { JsonRpcMessage } from "../../protocol/index.ts";
import type { ResolvedContainerServerConfig } from "../../config/index.ts";
import type { Logger } from "../../log.ts";
import { StdioTransport, childEnvironment } from "../stdio-transport.ts";
import { TransportClosedError, noop, type TransportClosed, type UpstreamTransport } from "../transport.ts";
import { writeEnvFile, type EnvFile } from "./env-file.ts";
import { containerLabels, containerName } from "./ownership.ts";
import { runArguments } from "./run-args.ts";
import { firstLine, inspectImage, removeArgs, runtimeCommand, runtimeCommandSync, type ContainerRuntime } from "./runtime.ts";
import { VolumeRefused, prepareVolumes } from "./volumes.ts";
import type { GatewayState } from "../../system.ts";

export interface ContainerContext {
  /** Undefined when no engine was found: every container server then fails to start, saying so. */
  runtime: ContainerRuntime | undefined;
  /** ownerId() of this deployment. */
  owner: string;
  allowedRoots: string[];
  /** Never mounted, whatever the roots allow: checked on the real path of every volume. */
  gatewayState: GatewayState;
  ulimits: { nofile: number; nproc: number };
}

/** The engine's own failures (podman and docker both): 125 the engine, 126 not executable, 127 not found. */
const ENGINE_EXIT_CODES = new Set([125, 126, 127]);
/** What the engine CLI itself needs (rootless podman, a remote docker), beside the usual PATH/HOME. Never the server's env. */
const ENGINE_ENV = ["XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "DOCKER_HOST", "DOCKER_CONFIG", "CONTAINER_HOST", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "DBUS_SESSION_BUS_ADDRESS"];
/** What podman's attach says when the container it was attached to has ended: the exit itself is reported. */
const ENGINE_NOISE = /msg="container not running"/;

const running = new Map<string, ContainerRuntime>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    const byRuntime = new Map<ContainerRuntime, string[]>();
    for (const [name, runtime] of running) byRuntime.set(runtime, [...(byRuntime.get(runtime) ?? []), name]);
    for (const [runtime, names] of byRuntime) runtimeCommandSync(runtime, removeArgs(runtime, names));
  });
}

export class ContainerTransport implements UpstreamTransport {
  onmessage: UpstreamTransport["onmessage"] = noop;
  onclose: UpstreamTransport["onclose"] = noop;

  private readonly server: ResolvedContainerServerConfig;
  private readonly context: ContainerContext;
  private readonly log: Logger;
  private engineCli: StdioTransport | undefined;
  private envFile: EnvFile | undefined;
  private starting: Promise<void> | undefined;
  private closing = false;
  /** The current container's name, once started. */
  private name: string | undefined;

  constructor(server: ResolvedContainerServerConfig, context: ContainerContext, log: Logger) {
    this.server = server;
    this.context = context;
    this.log = log;
  }

  start(): Promise<void> {
    this.starting ??= this.launch();
    return this.starting;
  }

  send(message: JsonRpcMessage): Promise<void> {
    if (this.engineCli === undefined) return Promise.reject(new TransportClosedError({ summary: "is not running", cause: "not running" }));
    return this.engineCli.send(message);
  }

  async close(): Promise<void> {
    this.closing = true;
    // A start still checking the image or volumes must not launch a container after this returns.
    await this.starting?.catch(() => undefined);
    // Closing stdin ends the server; SIGTERM reaches it through the engine's signal proxy.
    await this.engineCli?.close();
    await this.removeContainer();
  }

  private async launch(): Promise<void> {
    const runtime = this.context.runtime;
    if (runtime === undefined) throw refused("no container runtime found (podman or docker on PATH)");
    const image = await this.approvedImage(runtime);
    const volumes = await prepareVolumes(this.server, this.context.allowedRoots, this.context.gatewayState).catch((error: unknown) => {
      throw error instanceof VolumeRefused ? refused(error.message) : error;
    });
    this.stopIfClosing();
    const name = containerName(this.context.owner, this.server.name);
    this.envFile = await writeEnvFile(this.server.env);
    const args = runArguments(runtime, this.server, {
      name,
      image,
      labels: containerLabels(this.context.owner, this.server.name, this.server.scope),
      ulimits: this.context.ulimits,
      envFile: this.envFile?.path,
      volumes,
    });
    const env = { ...childEnvironment({}), ...pick(process.env, ENGINE_ENV) };
    const engineCli = new StdioTransport({ command: runtime.binary, args, env, cwd: process.cwd(), benignStderr: ENGINE_NOISE }, this.log.child({ container: name }));
    engineCli.onmessage = (message, related) => {
      // The server answered: the engine read the env file long ago.
      void this.envFile?.remove();
      this.onmessage(message, related);
    };
    engineCli.onclose = (closed) => {
      void this.removeContainer();
      this.onclose(this.explain(closed, engineCli));
    };
    installExitHook();
    running.set(name, runtime);
    this.name = name;
    this.engineCli = engineCli;
    try {
      await engineCli.start();
    } catch (error) {
      await this.removeContainer();
      throw error;
    }
    this.log.info({ container: name, image }, "container started");
  }

  private stopIfClosing(): void {
    if (this.closing) throw refused("stopped while starting");
  }

  /** The engine's last stderr line says why a container never came up ("image not known", "rlimit"). */
  private explain(closed: TransportClosed, engineCli: StdioTransport): TransportClosed {
    const code = engineCli.exitCode;
    if (code === undefined || !ENGINE_EXIT_CODES.has(code) || engineCli.lastStderrLine === undefined) return closed;
    const why = engineCli.lastStderrLine;
    return { summary: `${closed.summary}: ${why}`, cause: `${closed.cause}: ${why}` };
  }

  /** --rm removes a container that exits by itself; this covers an engine CLI that died first, and a hung container. */
  private async removeContainer(): Promise<void> {
    await this.envFile?.remove();
    const runtime = this.context.runtime;
    const name = this.name;
    if (runtime === undefined || name === undefined || !running.delete(name)) return;
    const result = await runtimeCommand(runtime, removeArgs(runtime, [name]));
    if (result.code !== 0 && !/no such container/i.test(result.stderr)) {
      this.log.warn({ container: name, err: firstLine(result.stderr) }, "removing the container failed");
    }
  }

  /**
   * The image must be there when pull is never, and carry the pinned digest when one is set. A pinned image that
   * is absent is pulled by that digest, never by its tag, and checked again.
   */
  private async approvedImage(runtime: ContainerRuntime): Promise<string> {
    const { image, digest, pull } = this.server;
    if (pull === "if-missing" && digest === undefined) return image;
    let facts = await inspectImage(runtime, image);
    if (!facts.present && digest !== undefined && pull === "if-missing") {
      const byDigest = `${image.replace(/(@sha256:[a-f0-9]+)$/, "").replace(/:[^/:]+$/, "")}@${digest}`;
      const pulled = await runtimeCommand(runtime, ["pull", byDigest]);
      if (pulled.code !== 0) throw refused(`image ${image} is not present, and pulling ${byDigest} failed: ${firstLine(pulled.stderr)}`);
      facts = await inspectImage(runtime, byDigest);
    }
    if (!facts.present) {
      if (pull === "never") throw refused(`image ${image} is not present and pull is never (${facts.reason})`);
      return image;
    }
    if (digest !== undefined && !facts.digests.includes(digest)) {
      throw refused(`image ${image} does not match the pinned digest ${digest} (it has ${facts.digests[0] ?? "none"})`);
    }
    // The exact image that passed the check, so a re-tag in between cannot swap it.
    return digest === undefined ? image : facts.id;
  }
}

function refused(reason: string): TransportClosedError {
  return new TransportClosedError({ summary: `could not be started: ${reason}`, cause: reason });
}

function pick(source: NodeJS.ProcessEnv, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of keys) if (source[key] !== undefined) out[key] = source[key];
  return out;
}
