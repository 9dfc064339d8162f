/**
 * One supervised backend: connects through the configured transport, initializes, keeps the catalog current,
 * and restarts with backoff when the connection drops. The JSON-RPC details live in connection.ts.
 */
import {
  ErrorCode,
  JsonRpcError,
  LATEST_PROTOCOL_VERSION,
  Method,
  asObject,
  isModernVersion,
  isSupportedVersion,
  type CatalogKind,
  type Implementation,
  type JsonObject,
  type ServerCapabilities,
} from "../protocol/index.ts";
import { logger, type Logger } from "../log.ts";
import { Backoff, type BackoffOptions } from "./backoff.ts";
import { changedKinds, declaredKinds, emptyCatalog, fetchKinds, type ListCall } from "./catalog.ts";
import { Peer } from "./connection.ts";
import { HttpStatusError, SessionExpiredError, TransportClosedError, UPSTREAM_CLIENT_INFO, reasonOf, type TransportClosed, type UpstreamSession, type UpstreamTransport } from "./transport.ts";
import type { ContainerContext } from "./container/container-transport.ts";
import { clientCapabilitiesFor, createTransport } from "./transports.ts";
import type { Backend, BackendCatalog, BackendConfig, BackendHooks, BackendState, CallOptions } from "./types.ts";

export interface BackendOptions {
  /** Folder of the config file: stdio `cwd` resolves against it, and it is the default cwd. */
  configDir: string;
  clientInfo?: { name: string; version: string };
  /** Restart pacing; tests shorten it. */
  backoff?: Partial<BackoffOptions>;
  /** The engine and ownership labels for `transport: container` servers. */
  containers?: ContainerContext;
  /** Per-session HTTP instances: carry on a session another replica initialized, and report every new one. */
  upstreamSession?: {
    resume?: UpstreamSession & { capabilities: ServerCapabilities; serverInfo?: Implementation | undefined; instructions?: string | undefined };
    onSession?: (session: UpstreamSession) => void;
  };
}

/** Where stdio backends find the gateway's identity assertion for a call. */
export const IDENTITY_META_KEY = "io.gatehouse/identity";

export class SupervisedBackend implements Backend {
  readonly name: string;
  state: BackendState = "stopped";
  catalog: BackendCatalog = emptyCatalog();
  capabilities: ServerCapabilities | undefined;
  serverInfo: Implementation | undefined;
  instructions: string | undefined;
  protocolVersion: string | undefined;

  private readonly config: BackendConfig;
  private readonly hooks: BackendHooks;
  private readonly options: BackendOptions;
  private readonly log: Logger;
  private readonly backoff: Backoff;
  private detail: string | undefined = "not started";
  private peer: Peer | undefined;
  private transport: UpstreamTransport | undefined;
  private started: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private keepUpstreamSession = false;
  private restartTimer: NodeJS.Timeout | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private lastId = 0;
  /** Bumped by every session re-initialize, so calls that failed on the old session retry without a second one. */
  private sessionEpoch = 0;
  private recovery: Promise<void> | undefined;
  private readonly refreshing = new Map<CatalogKind, Promise<void>>();
  /** list_changed seen while a fetch of that kind was running (or before ready): fetch again afterwards. */
  private readonly dirty = new Set<CatalogKind>();

  constructor(config: BackendConfig, hooks: BackendHooks, options: BackendOptions) {
    this.name = config.name;
    this.config = config;
    this.hooks = hooks;
    this.options = options;
    this.log = logger("upstream", { server: config.name, transport: config.transport });
    this.backoff = new Backoff(options.backoff);
  }

  start(): Promise<void> {
    if (this.stopped !== undefined) return Promise.reject(this.unavailable());
    this.started ??= this.firstStart();
    return this.started;
  }

  async request(method: string, params: JsonObject | undefined, options: CallOptions = {}): Promise<JsonObject> {
    if (this.recovery !== undefined) await this.recovery.catch(() => undefined);
    const epoch = this.sessionEpoch;
    try {
      return await this.send(method, params, options);
    } catch (error) {
      if (!(error instanceof SessionExpiredError)) throw this.mapError(error, method);
    }
    await this.recoverSession(epoch);
    try {
      return await this.send(method, params, options);
    } catch (error) {
      if (error instanceof SessionExpiredError) {
        throw new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" expired its session again right after re-initializing`);
      }
      throw this.mapError(error, method);
    }
  }

  notify(method: string, params?: JsonObject): void {
    if (this.state === "ready") this.peer?.notify(method, params);
  }

  /** `keepUpstreamSession`: an HTTP session other replicas may carry on is left alive, not deleted. */
  stop(options: { keepUpstreamSession?: boolean } = {}): Promise<void> {
    this.keepUpstreamSession ||= options.keepUpstreamSession === true;
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private send(method: string, params: JsonObject | undefined, options: CallOptions): Promise<JsonObject> {
    const peer = this.peer;
    if (this.state !== "ready" || peer === undefined) return Promise.reject(this.unavailable());
    let callParams = params;
    let headers: Record<string, string> | undefined;
    if (options.assertion !== undefined) {
      // Over stdin there is no header to carry it: stdio and container servers get it in _meta.
      if (this.config.transport === "stdio" || this.config.transport === "container") {
        const meta = params?._meta !== null && typeof params?._meta === "object" ? (params._meta as JsonObject) : {};
        callParams = { ...params, _meta: { ...meta, [IDENTITY_META_KEY]: options.assertion } };
      } else {
        headers = { authorization: `Bearer ${options.assertion}` };
      }
    }
    return peer.request(method, callParams, { owner: options.owner, signal: options.signal, timeoutMs: options.timeoutMs ?? this.config.timeoutMs, headers });
  }

  private async firstStart(): Promise<void> {
    this.setState("starting", "starting");
    try {
      await this.connect();
    } catch (error) {
      const reason = reasonOf(error);
      if (this.stopped === undefined) this.scheduleRestart(reason);
      throw new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" failed to start: ${reason}`);
    }
  }

  private async connect(): Promise<void> {
    const transport = createTransport(this.config, this.options.configDir, this.options.containers, this.log);
    const peer: Peer = new Peer({
      server: this.name,
      transport,
      log: this.log,
      nextId: () => ++this.lastId,
      onNotification: (message, owner) => this.safely("onNotification", () => this.hooks.onNotification(this.name, message, owner)),
      onServerRequest: (message, owners, signal) => this.hooks.onServerRequest(this.name, message, owners, signal),
      onListChanged: (kind) => this.listChanged(kind),
      onClosed: (closed) => this.connectionLost(peer, closed),
    });
    transport.onsessionexpired = () => {
      this.recoverSession(this.sessionEpoch).catch(() => undefined);
    };
    this.transport = transport;
    this.peer = peer;
    this.dirty.clear();
    try {
      await transport.start();
      if (!(await this.resumed(peer, transport))) await this.handshake(peer, transport);
      const fetched = await fetchKinds(this.listCall(peer), declaredKinds(this.capabilities), this.log);
      if (this.stopped !== undefined || this.peer !== peer) throw new Error("stopped while connecting");
      const next: BackendCatalog = { ...emptyCatalog(), ...fetched };
      const changed = changedKinds(this.catalog, next);
      this.catalog = next;
      this.backoff.connected();
      this.log.info(
        { protocolVersion: this.protocolVersion, tools: next.tools.length, prompts: next.prompts.length, resources: next.resources.length },
        "backend ready",
      );
      this.setState("ready", undefined);
      this.watchHealth(peer);
      if (changed.length > 0) this.catalogChanged(changed);
      for (const kind of declaredKinds(this.capabilities)) if (this.dirty.has(kind)) this.refresh(kind);
    } catch (error) {
      if (this.peer === peer) {
        this.peer = undefined;
        this.transport = undefined;
      }
      // When the connection itself went away, its cause ("exit code 1") says more than the failed call's message.
      const closed = peer.closed;
      peer.failAll({ summary: "failed to initialize", cause: reasonOf(error) });
      await transport.close().catch(() => undefined);
      throw closed !== undefined ? new TransportClosedError(closed) : error;
    }
  }

  private async handshake(peer: Peer, transport: UpstreamTransport): Promise<void> {
    const clientInfo = this.options.clientInfo ?? UPSTREAM_CLIENT_INFO;
    const result = await peer.request(
      Method.Initialize,
      { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: clientCapabilitiesFor(this.config), clientInfo },
      { timeoutMs: this.config.timeoutMs },
    );
    const version = result.protocolVersion;
    if (typeof version !== "string" || !(isSupportedVersion(version) || isModernVersion(version))) {
      throw new Error(`unsupported protocol version ${JSON.stringify(version)} in the initialize answer`);
    }
    this.protocolVersion = version;
    this.capabilities = (asObject(result.capabilities) ?? {}) as ServerCapabilities;
    this.serverInfo = asObject(result.serverInfo) as Implementation | undefined;
    this.instructions = typeof result.instructions === "string" ? result.instructions : undefined;
    transport.negotiated?.(version);
    // Awaited: on HTTP the first list POST must not overtake the initialized notification.
    await peer.notifyAndWait(Method.Initialized);
    transport.initialized?.();
    const session = transport.currentSession?.();
    if (session !== undefined) this.options.upstreamSession?.onSession?.(session);
  }

  /** Carries on the session to resume, if any and the server still knows it (a ping proves it); else false. */
  private async resumed(peer: Peer, transport: UpstreamTransport): Promise<boolean> {
    const resume = this.options.upstreamSession?.resume;
    if (resume === undefined || transport.resumeSession === undefined) return false;
    transport.resumeSession(resume);
    try {
      await peer.request(Method.Ping, undefined, { timeoutMs: this.config.timeoutMs });
    } catch (error) {
      if (!(error instanceof SessionExpiredError)) throw error;
      this.log.info("the upstream session to resume has expired; initializing a new one");
      transport.resetSession?.();
      return false;
    }
    this.protocolVersion = resume.protocolVersion;
    this.capabilities = resume.capabilities;
    this.serverInfo = resume.serverInfo;
    this.instructions = resume.instructions;
    transport.initialized?.();
    return true;
  }

  private listCall(peer: Peer): ListCall {
    return (method, params) => peer.request(method, params, { timeoutMs: this.config.timeoutMs });
  }

  private listChanged(kind: CatalogKind): void {
    if (this.state !== "ready") {
      this.dirty.add(kind);
      return;
    }
    if (!declaredKinds(this.capabilities).includes(kind)) return;
    this.refresh(kind);
  }

  /** Refetches one kind; a list_changed arriving meanwhile makes it fetch once more, never two at once. */
  private refresh(kind: CatalogKind): void {
    if (this.refreshing.has(kind)) {
      this.dirty.add(kind);
      return;
    }
    const run = async (): Promise<void> => {
      for (let round = 0; round < 100; round++) {
        this.dirty.delete(kind);
        const peer = this.peer;
        if (peer === undefined || this.state !== "ready") return;
        const fetched = await fetchKinds(this.listCall(peer), [kind], this.log);
        if (this.peer !== peer) return;
        const next = { ...this.catalog, ...fetched };
        const changed = changedKinds(this.catalog, next);
        this.catalog = next;
        if (changed.length > 0) this.catalogChanged(changed);
        if (!this.dirty.has(kind)) return;
      }
    };
    const running = run()
      .catch((error: unknown) => this.log.warn({ kind, err: reasonOf(error) }, "refetching the catalog failed"))
      .finally(() => this.refreshing.delete(kind));
    this.refreshing.set(kind, running);
  }

  /** HTTP session expired: initialize a new one on the same transport (once, shared by every caller). */
  private async recoverSession(epoch: number): Promise<void> {
    if (epoch !== this.sessionEpoch) return;
    const peer = this.peer;
    const transport = this.transport;
    if (peer === undefined || transport === undefined || this.state !== "ready") throw this.unavailable();
    this.recovery ??= (async () => {
      this.log.info("backend session expired; initializing a new one");
      transport.resetSession?.();
      await this.handshake(peer, transport);
      this.sessionEpoch++;
      for (const kind of declaredKinds(this.capabilities)) this.refresh(kind);
    })()
      .catch((error: unknown) => {
        const cause = `re-initializing its expired session failed: ${reasonOf(error)}`;
        this.connectionLost(peer, { summary: "lost its session", cause });
        throw new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" is unavailable: ${cause}`);
      })
      .finally(() => {
        this.recovery = undefined;
      });
    await this.recovery;
  }

  /** Containers answer an MCP ping on a timer; a missed one (hung, paused, out of memory) counts as a crash. */
  private watchHealth(peer: Peer): void {
    clearInterval(this.healthTimer);
    if (this.config.transport !== "container") return;
    const { intervalMs, timeoutMs } = this.config.healthCheck;
    let pinging = false;
    this.healthTimer = setInterval(() => {
      // A server busy with calls may not answer a ping in time (many serve one request at a time); those calls
      // have their own timeouts. Only an idle server is pinged.
      if (pinging || this.peer !== peer || peer.inFlight > 0) return;
      pinging = true;
      peer
        .request(Method.Ping, undefined, { timeoutMs })
        .catch((error: unknown) => {
          this.log.warn({ err: reasonOf(error) }, "health check failed");
          this.connectionLost(peer, { summary: "failed its health check", cause: `a failed health check (${reasonOf(error)})` });
        })
        .finally(() => {
          pinging = false;
        });
    }, intervalMs);
    this.healthTimer.unref();
  }

  private connectionLost(peer: Peer, closed: TransportClosed): void {
    if (peer !== this.peer || this.stopped !== undefined || this.state !== "ready") return;
    clearInterval(this.healthTimer);
    this.peer = undefined;
    const transport = this.transport;
    this.transport = undefined;
    peer.failAll(closed);
    void transport?.close().catch(() => undefined);
    this.scheduleRestart(closed.cause);
  }

  private scheduleRestart(cause: string): void {
    const delay = this.backoff.next();
    this.setState("restarting", `restarting after ${cause}`);
    this.log.warn({ cause, delayMs: delay, attempt: this.backoff.attempts }, "backend down; restarting");
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.connect().catch((error: unknown) => {
        if (this.stopped === undefined) this.scheduleRestart(reasonOf(error));
      });
    }, delay);
  }

  private async shutdown(): Promise<void> {
    clearTimeout(this.restartTimer);
    clearInterval(this.healthTimer);
    const peer = this.peer;
    const transport = this.transport;
    this.peer = undefined;
    this.transport = undefined;
    peer?.failAll({ summary: "was stopped", cause: "stopped" });
    this.setState("stopped", "stopped");
    await transport?.close({ keepSession: this.keepUpstreamSession }).catch((error: unknown) => this.log.warn({ err: reasonOf(error) }, "closing the backend failed"));
    this.log.info("backend stopped");
  }

  private setState(state: BackendState, detail: string | undefined): void {
    const changed = state !== this.state;
    this.state = state;
    this.detail = detail;
    if (changed) this.safely("onStateChanged", () => this.hooks.onStateChanged(this.name, state, detail));
  }

  private catalogChanged(kinds: CatalogKind[]): void {
    this.log.info({ kinds }, "backend catalog changed");
    this.safely("onCatalogChanged", () => this.hooks.onCatalogChanged(this.name, kinds));
  }

  private unavailable(): JsonRpcError {
    return new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" is unavailable: ${this.detail ?? this.state}`);
  }

  private mapError(error: unknown, method: string): JsonRpcError {
    if (error instanceof JsonRpcError) return error;
    if (error instanceof HttpStatusError) {
      return new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" answered ${method} with ${error.message}`);
    }
    return new JsonRpcError(ErrorCode.BackendUnavailable, `server "${this.name}" is unavailable: ${reasonOf(error)}`);
  }

  /** A hook that throws must not break the connection it was called from. */
  private safely(hook: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.log.error({ hook, err: reasonOf(error) }, "a backend hook threw");
    }
  }
}

