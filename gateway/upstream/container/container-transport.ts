/**
 * A backend in a container: `podman|docker run --interactive --rm …` as a supervised child, speaking MCP over
 * the attached stdin/stdout (framing, stderr logging and restarts are the stdio transport's). The container
 * outlives a killed CLI process (conmon / containerd hold it), so stopping also removes it by name, and so does
 * the gateway's 'exit' handler.
 */
import { chown, mkdir, realpath, stat } from "node:fs/promises";
import path from "node:path";
import type { JsonRpcMessage } from "../../protocol/index.ts";
import type { ResolvedContainerServerConfig } from "../../config/index.ts";
import type { Logger } from "../../log.ts";
import { StdioTransport, childEnvironment } from "../stdio-transport.ts";
import { TransportClosedError, noop, type TransportClosed, type UpstreamTransport } from "../transport.ts";
import { containerLabels, containerName } from "./ownership.ts";
import { runArguments } from "./run-args.ts";
import { firstLine, inspectImage, removeArgs, runtimeCommand, runtimeCommandSync, type ContainerRuntime } from "./runtime.ts";

export interface ContainerContext {
  /** Undefined when no engine was found: every container server then fails to start, saying so. */
  runtime: ContainerRuntime | undefined;
  /** ownerId() of this deployment. */
  owner: string;
  allowedRoots: string[];
  ulimits: { nofile: number; nproc: number };
}

/** The engine's own failures (podman and docker both): 125 the engine, 126 not executable, 127 not found. */
const ENGINE_EXIT_CODES = new Set([125, 126, 127]);
/** Environment the engine CLI itself needs (rootless podman, a remote docker), beside the usual PATH/HOME. */
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
  private readonly scope: "shared" | "per-session";
  private process: StdioTransport | undefined;
  /** The current container's name, once started. */
  name: string | undefined;

  constructor(server: ResolvedContainerServerConfig, context: ContainerContext, log: Logger) {
    this.server = server;
    this.context = context;
    this.log = log;
    this.scope = server.scope;
  }

  async start(): Promise<void> {
    const runtime = this.context.runtime;
    if (runtime === undefined) throw refused("no container runtime found (podman or docker on PATH)");
    const image = await this.approvedImage(runtime);
    await this.prepareVolumes();
    const name = containerName(this.context.owner, this.server.name);
    const args = runArguments(runtime, this.server, {
      name,
      image,
      labels: containerLabels(this.context.owner, this.server.name, this.scope),
      ulimits: this.context.ulimits,
    });
    const env = { ...childEnvironment(this.server.env), ...pick(process.env, ENGINE_ENV) };
    const launch = { command: runtime.binary, args, env, cwd: process.cwd(), benignStderr: ENGINE_NOISE };
    const child = new StdioTransport(launch, this.log.child({ container: name }));
    child.onmessage = (message, related) => this.onmessage(message, related);
    child.onclose = (closed) => {
      this.forget(runtime, name);
      this.onclose(this.explain(closed, child));
    };
    installExitHook();
    running.set(name, runtime);
    this.name = name;
    this.process = child;
    try {
      await child.start();
    } catch (error) {
      this.forget(runtime, name);
      throw error;
    }
    this.log.info({ container: name, image }, "container started");
  }

  send(message: JsonRpcMessage): Promise<void> {
    if (this.process === undefined) return Promise.reject(new TransportClosedError({ summary: "is not running", cause: "not running" }));
    return this.process.send(message);
  }

  async close(): Promise<void> {
    const { process: child, name } = this;
    const runtime = this.context.runtime;
    // Closing stdin ends the server; SIGTERM reaches it through the engine's signal proxy.
    await child?.close();
    if (runtime !== undefined && name !== undefined) this.forget(runtime, name);
  }

  /** The engine's last stderr line says why a container never came up ("image not known", "rlimit"). */
  private explain(closed: TransportClosed, child: StdioTransport): TransportClosed {
    const code = /exit code (\d+)/.exec(closed.cause)?.[1];
    if (code === undefined || !ENGINE_EXIT_CODES.has(Number(code)) || child.lastStderrLine === undefined) return closed;
    const why = child.lastStderrLine;
    return { summary: `${closed.summary}: ${why}`, cause: `${closed.cause}: ${why}` };
  }

  private forget(runtime: ContainerRuntime, name: string): void {
    if (!running.delete(name)) return;
    // --rm removes it when it exits on its own; this covers a CLI that died first, and a container that hangs.
    void runtimeCommand(runtime, removeArgs(runtime, [name])).then((result) => {
      if (result.code !== 0 && !/no such container/i.test(result.stderr)) {
        this.log.warn({ container: name, err: firstLine(result.stderr) }, "removing the container failed");
      }
    });
  }

  /** The image must be there when pull is never, and match the pinned digest when one is set. */
  private async approvedImage(runtime: ContainerRuntime): Promise<string> {
    const { image, digest, pull } = this.server;
    if (pull === "if-missing" && digest === undefined) return image;
    const facts = await inspectImage(runtime, image);
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

  /**
   * Host paths must stay under container.allowedRoots once symlinks are resolved. A missing folder is created;
   * a writable one owned by root is handed to the container's user when the gateway runs as root.
   */
  private async prepareVolumes(): Promise<void> {
    const roots = await Promise.all(this.context.allowedRoots.map((root) => realpath(root).catch(() => path.resolve(root))));
    for (const volume of this.server.volumes) {
      await mkdir(volume.host, { recursive: true });
      const real = await realpath(volume.host);
      if (!roots.some((root) => real === root || real.startsWith(root + path.sep))) {
        throw refused(`volume ${volume.host} resolves to ${real}, outside container.allowedRoots`);
      }
      if (volume.readOnly || process.getuid?.() !== 0) continue;
      const [uid = 0, gid = uid] = this.server.user.split(":").map(Number);
      if ((await stat(real)).uid === 0) await chown(real, uid, gid);
    }
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
