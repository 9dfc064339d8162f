/**
 * `scope: per-session`: each client session gets its own instance of the server, created on the session's first
 * call, capped at maxInstances, stopped when the session ends or the instance sits idle. A container server gets a
 * container per session; an HTTP server a Streamable HTTP session per client session.
 *
 * The catalog comes from a first instance started with the gateway (the routing table needs it before any session
 * exists). A container's is not wasted: the first session to call claims it, and until then it is reaped like any
 * idle one.
 *
 * An HTTP session is state on the (shared, remote) server, so it outlives this replica's instance: its id is kept
 * with the client session's shared record (`upstreamSessions`), and whichever replica serves the client next
 * carries the same upstream session on. Only the client session's end deletes it.
 */
import { ErrorCode, JsonRpcError, type CatalogKind, type Implementation, type JsonObject, type JsonRpcNotification, type JsonRpcRequest, type ServerCapabilities } from "../protocol/index.ts";
import type { ResolvedContainerServerConfig } from "../config/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import { logger, type Logger } from "../log.ts";
import { SupervisedBackend, type BackendOptions } from "./backend.ts";
import { Backoff } from "./backoff.ts";
import { emptyCatalog } from "./catalog.ts";
import type { Backend, BackendCatalog, BackendHooks, BackendState, CallOptions, CallOwner } from "./types.ts";
import type { UpstreamSession } from "./transport.ts";

/** Containers cost a process each; HTTP sessions only the remote server's memory. */
export const DEFAULT_MAX_INSTANCES = 10;
export const DEFAULT_MAX_HTTP_SESSIONS = 100;
export const DEFAULT_IDLE_TIMEOUT_MS = 5 * 60_000;

interface Instance {
  backend: SupervisedBackend;
  /** Undefined while unclaimed (the discovery instance). */
  sessionId: string | undefined;
  inflight: number;
  idleTimer: NodeJS.Timeout | undefined;
}

export type PerSessionConfig = ResolvedContainerServerConfig | (HttpServerConfig & { transport: "http" });

/** Where a client session's upstream HTTP session is kept, so any replica can carry it on. */
export interface UpstreamSessionStore {
  /** Rejects when the store cannot answer: then no new upstream session is started in its place. */
  get(clientSessionId: string, server: string): Promise<UpstreamSession | undefined>;
  set(clientSessionId: string, server: string, session: UpstreamSession | undefined): void;
}

export class PerSessionBackend implements Backend {
  readonly name: string;
  state: BackendState = "stopped";
  catalog: BackendCatalog = emptyCatalog();
  capabilities: ServerCapabilities | undefined;
  serverInfo: Implementation | undefined;
  instructions: string | undefined;
  protocolVersion: string | undefined;

  private readonly config: PerSessionConfig;
  private readonly hooks: BackendHooks;
  private readonly options: BackendOptions;
  private readonly log: Logger;
  private readonly maxInstances: number;
  private readonly idleTimeoutMs: number;
  private readonly instances = new Set<Instance>();
  private readonly bySession = new Map<string, Instance>();
  private started: Promise<void> | undefined;
  private stopped = false;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | undefined;

  private readonly upstreamSessions: UpstreamSessionStore | undefined;

  constructor(config: PerSessionConfig, hooks: BackendHooks, options: BackendOptions & { upstreamSessions?: UpstreamSessionStore }) {
    this.name = config.name;
    this.config = config;
    this.hooks = hooks;
    this.options = options;
    this.log = logger("upstream", { server: config.name, transport: config.transport, scope: "per-session" });
    this.maxInstances = config.maxInstances ?? (config.transport === "http" ? DEFAULT_MAX_HTTP_SESSIONS : DEFAULT_MAX_INSTANCES);
    this.upstreamSessions = config.transport === "http" ? options.upstreamSessions : undefined;
    this.idleTimeoutMs = config.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.backoff = new Backoff(options.backoff);
  }

  start(): Promise<void> {
    this.started ??= this.discover();
    return this.started;
  }

  async request(method: string, params: JsonObject | undefined, options: CallOptions = {}): Promise<JsonObject> {
    const sessionId = options.owner?.sessionId;
    if (sessionId === undefined) {
      throw new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" runs per session and needs a client session for ${method}`);
    }
    const instance = await this.instanceFor(sessionId);
    instance.inflight++;
    clearTimeout(instance.idleTimer);
    try {
      return await instance.backend.request(method, params, options);
    } finally {
      instance.inflight--;
      // Not for an instance retired meanwhile (its session ended mid-call): its timer would only hold it.
      if (instance.inflight === 0 && this.instances.has(instance)) this.armIdleTimer(instance);
    }
  }

  notify(method: string, params?: JsonObject): void {
    for (const instance of this.instances) instance.backend.notify(method, params);
  }

  releaseSession(sessionId: string, ended: boolean): void {
    const instance = this.bySession.get(sessionId);
    if (instance !== undefined) void this.retire(instance, ended ? "its session ended" : "its session left this replica", ended);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.setState("stopped", "stopped");
    await Promise.allSettled([...this.instances].map((instance) => this.retire(instance, "the gateway is stopping")));
  }

  /**
   * Starts the first instance to learn the catalog. On failure it tries again with backoff (the image may be
   * built later), and start() reports the latest attempt.
   */
  private async discover(): Promise<void> {
    this.setState(this.state === "stopped" ? "starting" : this.state, "starting its first instance");
    const instance = this.spawn(undefined);
    try {
      await instance.backend.start();
    } catch (error) {
      await this.retire(instance, "it failed to start");
      if (this.stopped) throw error;
      this.setState("restarting", (error as Error).message);
      const delay = this.backoff.next();
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.started = this.discover();
        this.started.catch(() => undefined);
      }, delay);
      throw error;
    }
    if (this.stopped) return;
    this.backoff.connected();
    this.adopt(instance.backend);
    this.setState("ready", undefined);
    this.armIdleTimer(instance);
  }

  private async instanceFor(sessionId: string): Promise<Instance> {
    if (this.stopped) throw new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" was stopped`);
    let instance = this.bySession.get(sessionId);
    if (instance === undefined) {
      // Looked up first: what follows is synchronous, so concurrent first calls see each other's instance and the cap.
      const stored = this.upstreamSessions === undefined ? undefined : await this.storedSession(this.upstreamSessions, sessionId);
      instance = this.bySession.get(sessionId) ?? this.claimOrSpawn(sessionId, stored);
      this.bySession.set(sessionId, instance);
    }
    try {
      await instance.backend.start();
    } catch (error) {
      void this.retire(instance, "it failed to start");
      throw error;
    }
    return instance;
  }

  /** A container's discovery instance if still unclaimed, else a new instance (within the cap). */
  private claimOrSpawn(sessionId: string, stored: UpstreamSession | undefined): Instance {
    // An HTTP session of the discovery instance is its own, not the client's: it is never claimed.
    const unclaimed = this.config.transport === "http" ? undefined : [...this.instances].find((candidate) => candidate.sessionId === undefined);
    if (unclaimed !== undefined) {
      unclaimed.sessionId = sessionId;
      return unclaimed;
    }
    if (this.instances.size >= this.maxInstances) {
      throw new JsonRpcError(
        ErrorCode.BackendUnavailable,
        `server "${this.name}" runs one ${this.config.transport === "http" ? "upstream session" : "container"} per session and all ${this.maxInstances} are in use; try again when a session ends`,
      );
    }
    return this.spawn(sessionId, stored);
  }

  /** The upstream session this client session already has (from any replica), to carry on. */
  private async storedSession(store: UpstreamSessionStore, sessionId: string): Promise<UpstreamSession | undefined> {
    try {
      return await store.get(sessionId, this.name);
    } catch (error) {
      // A fresh upstream session would silently drop whatever state the client has on the server.
      this.log.warn({ err: (error as Error).message }, "cannot look up a client session's upstream session");
      throw new JsonRpcError(ErrorCode.StateUnavailable, `server "${this.name}" keeps per-session state, and this session's upstream session cannot be looked up right now (shared state unreachable); retry shortly`);
    }
  }

  private spawn(sessionId: string | undefined, resume?: UpstreamSession): Instance {
    // The hooks need the instance, and the instance needs the backend the hooks belong to.
    let self: Instance | undefined;
    const store = this.upstreamSessions;
    const upstreamSession =
      store === undefined || sessionId === undefined
        ? undefined
        : {
            onSession: (session: UpstreamSession) => store.set(sessionId, this.name, session),
            ...(resume === undefined || this.capabilities === undefined
              ? {}
              : { resume: { ...resume, capabilities: this.capabilities, serverInfo: this.serverInfo, instructions: this.instructions } }),
          };
    const backend = new SupervisedBackend(this.config, this.instanceHooks(() => self), { ...this.options, ...(upstreamSession === undefined ? {} : { upstreamSession }) });
    const instance: Instance = { backend, sessionId, inflight: 0, idleTimer: undefined };
    self = instance;
    this.instances.add(instance);
    this.log.info({ instances: this.instances.size, max: this.maxInstances }, "per-session instance starting");
    return instance;
  }

  private armIdleTimer(instance: Instance): void {
    clearTimeout(instance.idleTimer);
    instance.idleTimer = setTimeout(() => void this.retire(instance, `idle for ${this.idleTimeoutMs} ms`), this.idleTimeoutMs);
    instance.idleTimer.unref();
  }

  /** `ended`: the client session is over, so its upstream HTTP session goes too; otherwise it is left alive. */
  private async retire(instance: Instance, why: string, ended = false): Promise<void> {
    if (!this.instances.delete(instance)) return;
    clearTimeout(instance.idleTimer);
    if (instance.sessionId !== undefined && this.bySession.get(instance.sessionId) === instance) this.bySession.delete(instance.sessionId);
    this.log.info({ why, instances: this.instances.size }, "per-session instance stopping");
    await instance.backend.stop({ keepUpstreamSession: instance.sessionId !== undefined && !ended });
  }

  /** The newest instance's view of the server is the server's view (they all run the same image). */
  private adopt(backend: SupervisedBackend): void {
    this.catalog = backend.catalog;
    this.capabilities = backend.capabilities;
    this.serverInfo = backend.serverInfo;
    this.instructions = backend.instructions;
    this.protocolVersion = backend.protocolVersion;
  }

  private instanceHooks(current: () => Instance | undefined): BackendHooks {
    return {
      onNotification: (server: string, message: JsonRpcNotification, owner: CallOwner | undefined) => this.hooks.onNotification(server, message, owner),
      onServerRequest: (server: string, message: JsonRpcRequest, owners: CallOwner[], signal: AbortSignal) =>
        this.hooks.onServerRequest(server, message, owners, signal),
      // The instance that changed is the one whose view is adopted; the server's tools are the same for every
      // session (one image), so this keeps the routing table current without tying it to any one session.
      onCatalogChanged: (server: string, kinds: CatalogKind[]) => {
        const instance = current();
        if (instance === undefined || !this.instances.has(instance)) return;
        this.adopt(instance.backend);
        this.hooks.onCatalogChanged(server, kinds);
      },
      // Instances come and go with sessions; only the server as a whole has a state the gateway reports.
      onStateChanged: () => {},
    };
  }

  private setState(state: BackendState, detail: string | undefined): void {
    if (state === this.state) return;
    this.state = state;
    this.hooks.onStateChanged(this.name, state, detail);
  }
}
