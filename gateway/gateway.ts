/**
 * The composition root: config → backends → routing table → pipeline → HTTP. Owns the lifecycle (start, reload,
 * drain) and nothing else; every decision about a message lives in its stage.
 */
import { isDeepStrictEqual } from "node:util";
import type { Hono } from "hono";
import type { ResolvedConfig, ResolvedServerConfig } from "./config/index.ts";
import type { CatalogKind } from "./protocol/index.ts";
import type { AgentIdentity } from "./identity/index.ts";
import { LIST_CHANGED_BY_KIND } from "./protocol/index.ts";
import { buildRoutingTable, type RoutingTable } from "./routing/index.ts";
import { SessionDirectory } from "./session/index.ts";
import type { SharedState } from "./state/index.ts";
import { STATE_READY_WAIT_MS, createState, upstreamSessionsIn } from "./state-setup.ts";
import { Dispatcher, ModernRequests, createBackendHooks, GATEWAY_INFO } from "./pipeline/index.ts";
import {
  createBackend,
  planContainers,
  removeOrphans,
  type Backend,
  type BackendHooks,
  type BackendState,
  type ContainerContext,
} from "./upstream/index.ts";
import { createAuth, createHttpApp, isLoopbackHostname, type Readiness } from "./http/index.ts";
import { createIdentity, type GatewayIdentity } from "./identity-setup.ts";
import { startPolicy, type GatewayPolicy } from "./policy-setup.ts";
import { startAudit, type GatewayAudit } from "./audit-setup.ts";
import { createAuditApi } from "./admin/index.ts";
import { logger } from "./log.ts";

const log = logger("gateway");
const ALL_KINDS: CatalogKind[] = ["tools", "prompts", "resources"];

export class GatewayConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(problems.join("\n"));
    this.name = "GatewayConfigError";
    this.problems = problems;
  }
}

export interface GatewayOptions {
  /** How long start() waits for backends before serving anyway (readiness reports the laggards). */
  startupTimeoutMs?: number;
  /** Development only (the CLI allows it on loopback binds): no token is checked, every caller is "anonymous". */
  insecureNoAuth?: boolean;
  /** `serve --stdio`: one client for the process's life (see BackendEventsDeps.soleClient). */
  soleClient?: boolean;
}

export class Gateway {
  readonly sessions: SessionDirectory;
  readonly state: SharedState;
  /**
   * Set by `serve`: another replica reloaded its config, so this one re-reads its own file (the same ConfigMap
   * in Kubernetes). Without it, a peer's config reload is only logged.
   */
  onPeerConfigReload: (() => void) | undefined;
  readonly dispatcher: Dispatcher;
  /** 2026-07-28 stateless requests: MRTR exchanges and subscriptions/listen streams. */
  readonly modern: ModernRequests;
  private config: ResolvedConfig;
  private backends = new Map<string, Backend>();
  private table: RoutingTable;
  private tableVersion = 0;
  private readonly hooks: BackendHooks;
  private accepting = true;
  private reloading: Promise<void> = Promise.resolve();
  private readonly startupTimeoutMs: number;
  readonly identity: GatewayIdentity;
  private policy: GatewayPolicy | undefined;
  private audit: GatewayAudit | undefined;
  private containers: ContainerContext | undefined;
  private peerPolicyLoads = 0;

  private constructor(config: ResolvedConfig, options: GatewayOptions, identity: GatewayIdentity) {
    this.config = config;
    this.identity = identity;
    this.startupTimeoutMs = options.startupTimeoutMs ?? 20_000;
    this.state = createState(config);
    this.sessions = new SessionDirectory({
      state: this.state,
      idleTimeoutMs: config.http.sessionIdleTimeoutMs,
      onRemove: (session, ended) => {
        this.dispatcher.sessionEnded(session);
        for (const backend of this.backends.values()) backend.releaseSession?.(session.id, ended);
      },
      onCancel: (sessionId, requestId, reason) => this.dispatcher.cancelRelayed(sessionId, requestId, reason),
      onPeerReload: (what, revision) => this.peerReloaded(what, revision),
    });
    this.dispatcher = new Dispatcher({
      backends: () => this.backends,
      table: () => this.table,
      sessions: this.sessions,
      pageSize: () => this.config.http.pageSize,
      rateLimiter: this.state.limiter,
      rateLimitSettings: () => this.config.rateLimits,
      assertionFor: (server, agent) => this.assertionFor(server, agent),
      policy: () => this.policy?.gate,
      audit: () => this.audit?.log,
      // Fixed at start, like the audit log itself: a reload that changes them is reported as taking effect on restart.
      auditSettings: Object.freeze({ replica: config.audit.replica, arguments: config.audit.arguments }),
    });
    this.modern = new ModernRequests({
      dispatcher: this.dispatcher,
      backends: () => this.backends,
      perAgentPolicy: () => this.dispatcher.perAgentPolicy,
      replicaId: this.sessions.replicaId,
    });
    const local = this.sessions.local;
    const listeners = this.modern.listeners;
    this.hooks = createBackendHooks({
      sessions: { get: (id) => local.get(id) ?? listeners.get(id), values: () => local.values(), get size() { return local.size; } },
      inflight: this.dispatcher.inflight,
      subscriptions: this.dispatcher.subscriptions,
      onCatalogChanged: (server, kinds) => this.catalogChanged(server, kinds),
      onStateChanged: (server, state, detail) => this.backendStateChanged(server, state, detail),
      soleClient: options.soleClient === true,
    });
    const empty = this.build(new Map());
    if (!empty.ok) throw new GatewayConfigError(empty.errors);
    this.table = empty.table;
  }

  /** Starts every backend and builds the first table. A name collision is a config error: it throws. */
  static async start(loaded: ResolvedConfig, options: GatewayOptions = {}): Promise<Gateway> {
    const { config, containers } = await withContainerPlan(loaded);
    const identity = await createIdentity(config, options.insecureNoAuth === true);
    if ("problems" in identity) throw new GatewayConfigError(identity.problems);
    if (options.soleClient === true && config.audit.enabled && config.audit.sinks.stdout) {
      throw new GatewayConfigError(["audit.sinks.stdout: stdout carries the MCP protocol under `serve --stdio`; use the file log or the Redis sink"]);
    }
    const gateway = new Gateway(config, options, identity);
    if (!(await gateway.state.ready(STATE_READY_WAIT_MS))) {
      // Not fatal: sessions are refused with 503 until Redis answers, and ioredis keeps trying.
      log.warn({ reason: gateway.state.unavailable() }, "shared state is not reachable yet; serving what needs none");
    }
    try {
      gateway.audit = await startAudit(config, identity.key);
    } catch (error) {
      gateway.sessions.close();
      await gateway.state.close();
      throw new GatewayConfigError([`audit: ${(error as Error).message}`]);
    }
    gateway.policy = await gateway.startPolicy(config);
    gateway.containers = containers;
    await removeOrphanContainers(containers);
    for (const server of config.servers) gateway.backends.set(server.name, gateway.newBackend(server));
    await gateway.startAll([...gateway.backends.values()]);
    const built = gateway.build(gateway.backends);
    if (!built.ok) {
      await gateway.stopBackends([...gateway.backends.values()]);
      gateway.policy?.runtime.stop();
      await gateway.audit?.log.close();
      gateway.sessions.close();
      await gateway.state.close();
      throw new GatewayConfigError(built.errors);
    }
    gateway.table = built.table;
    return gateway;
  }

  get currentConfig(): ResolvedConfig {
    return this.config;
  }

  get routingTable(): RoutingTable {
    return this.table;
  }

  /** The policy runtime, for stats and for tests that reload it. */
  get policyRuntime() {
    return this.policy?.runtime;
  }

  /** The audit log, for stats and tests; undefined when auditing is off. */
  get auditLog() {
    return this.audit?.log;
  }

  backend(name: string): Backend | undefined {
    return this.backends.get(name);
  }

  httpApp(): Hono {
    const authenticate = createAuth(this.identity.authenticator, (c, status, reason) =>
      this.dispatcher.audit
        .event({
          kind: "auth-failure",
          decision: "deny",
          reasons: [reason],
          httpStatus: status,
          bytesIn: Number(c.req.header("content-length") ?? 0) || 0,
          traceparent: c.req.header("traceparent"),
          http: { method: c.req.method, path: c.req.path },
        }),
    );
    return createHttpApp({
      dispatcher: this.dispatcher,
      modern: this.modern,
      sessions: this.sessions,
      settings: () => this.config.http,
      loopbackBind: () => isLoopbackHostname(this.config.listen.host),
      accepting: () => this.accepting,
      readiness: () => this.readiness(),
      authenticate,
      auditApi: createAuditApi({ authenticate, audit: () => this.audit, stage: this.dispatcher.audit }),
      protectedResource: () => this.identity.protectedResource(),
      jwks: () => this.identity.publicJwks(),
    });
  }

  readiness(): Readiness {
    const servers: Record<string, string> = {};
    const waiting: string[] = [];
    for (const server of this.config.servers) {
      const state = this.backends.get(server.name)?.state ?? "stopped";
      servers[server.name] = state;
      if (server.required && state !== "ready") waiting.push(server.name);
    }
    if (!this.accepting) return { ready: false, servers, reason: "draining for shutdown" };
    const auditDown = this.dispatcher.audit.unavailable();
    if (auditDown !== undefined) return { ready: false, servers, reason: `audit log unavailable: ${auditDown}` };
    if (waiting.length > 0) return { ready: false, servers, reason: `waiting for required servers: ${waiting.join(", ")}` };
    return { ready: true, servers };
  }

  /**
   * Applies a new config: only servers whose settings changed are restarted. If the new set of names collides,
   * everything stays as it was and the errors are returned.
   */
  reload(loaded: ResolvedConfig, options: { fromPeer?: boolean } = {}): Promise<{ ok: true; changed: string[] } | { ok: false; errors: string[] }> {
    // One reload at a time (a file change and a SIGHUP can race), and none once shutdown has begun.
    const run = this.reloading.then(async () => {
      if (!this.accepting) return { ok: false as const, errors: ["the gateway is shutting down"] };
      const { config, containers } = await withContainerPlan(loaded);
      if (containers !== undefined) this.containers = containers;
      const before = this.config;
      const result = await this.applyReload(config);
      // The replica an operator reloaded tells the others; a reload a peer caused is not announced again, nor
      // one that changed nothing (every replica's file watcher fires when a shared ConfigMap changes).
      if (result.ok && options.fromPeer !== true && !isDeepStrictEqual(before, this.config)) this.sessions.announceReload("config");
      return result;
    });
    this.reloading = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private async applyReload(next: ResolvedConfig): Promise<{ ok: true; changed: string[] } | { ok: false; errors: string[] }> {
    if (!isDeepStrictEqual(next.listen, this.config.listen)) log.warn("listen address changed: it takes effect on restart");
    if (!isDeepStrictEqual(next.audit, this.config.audit)) log.warn("audit settings changed: they take effect on restart");
    if (!isDeepStrictEqual(next.state, this.config.state)) log.warn("state settings changed: they take effect on restart");
    const candidates = new Map<string, Backend>();
    const started: Backend[] = [];
    const changed: string[] = [];
    for (const server of next.servers) {
      const previous = this.config.servers.find((s) => s.name === server.name);
      const existing = this.backends.get(server.name);
      if (previous !== undefined && existing !== undefined && isDeepStrictEqual(previous, server)) {
        candidates.set(server.name, existing);
      } else {
        const backend = this.newBackend(server);
        candidates.set(server.name, backend);
        started.push(backend);
        changed.push(server.name);
      }
    }
    const removed = [...this.backends.values()].filter((b) => candidates.get(b.name) !== b);
    for (const b of removed) if (!changed.includes(b.name)) changed.push(b.name);
    await this.startAll(started);

    const previousConfig = this.config;
    this.config = next;
    const built = this.build(candidates);
    if (!built.ok) {
      this.config = previousConfig;
      await this.stopBackends(started);
      log.error({ errors: built.errors }, "reload rejected; the previous config keeps serving");
      return { ok: false, errors: built.errors };
    }
    this.backends = candidates;
    this.table = built.table;
    await this.stopBackends(removed);
    if (!isDeepStrictEqual(previousConfig.policy, next.policy)) {
      const replaced = this.policy;
      this.policy = await this.startPolicy(next);
      replaced?.runtime.stop();
    }
    this.broadcastListChanged(ALL_KINDS);
    log.info({ changed }, "config reloaded");
    return { ok: true, changed };
  }

  /** Stops intake, lets in-flight calls finish (bounded), then ends sessions and backends. */
  async shutdown(): Promise<{ drained: boolean }> {
    this.accepting = false;
    this.dispatcher.stopIntake();
    // Calls held for a stateless client's input would otherwise hold the drain until it times out.
    this.modern.close();
    await this.reloading;
    const drained = await this.dispatcher.inflight.drain(this.config.http.drainTimeoutMs);
    if (!drained) log.warn({ inflight: this.dispatcher.inflight.size }, "drain timed out; abandoning in-flight calls");
    this.sessions.close();
    this.policy?.runtime.stop();
    await this.stopBackends([...this.backends.values()]);
    await this.state.close();
    // Last: every answer that left is recorded, and the final checkpoint covers them all.
    await this.audit?.log.close();
    return { drained };
  }

  /** Undefined (synchronously) for servers that take no assertion, so the common call awaits nothing extra. */
  private assertionFor(server: string, agent: AgentIdentity): Promise<string> | undefined {
    const settings = this.config.servers.find((s) => s.name === server);
    return settings?.identity === "assertion" ? this.identity.assertion(agent, server) : undefined;
  }

  private newBackend(server: ResolvedServerConfig): Backend {
    const clientInfo = { name: GATEWAY_INFO.name, version: GATEWAY_INFO.version };
    return createBackend(server, this.hooks, {
      configDir: this.config.configDir,
      clientInfo,
      upstreamSessions: upstreamSessionsIn(this.state),
      ...(this.containers === undefined ? {} : { containers: this.containers }),
    });
  }

  private async startAll(backends: Backend[]): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, this.startupTimeoutMs);
    });
    const starts = backends.map((b) =>
      b.start().catch((error: unknown) => {
        log.warn({ server: b.name, err: (error as Error).message }, "backend failed to start; retrying in the background");
      }),
    );
    await Promise.race([Promise.all(starts), deadline]);
    clearTimeout(timer);
  }

  private async stopBackends(backends: Backend[]): Promise<void> {
    await Promise.allSettled(backends.map((b) => b.stop()));
  }

  private build(backends: ReadonlyMap<string, Backend>) {
    const catalogs = new Map([...backends].map(([name, b]) => [name, b.catalog]));
    const result = buildRoutingTable({
      naming: this.config.naming,
      servers: this.config.servers.filter((s) => backends.has(s.name)),
      catalogs,
      version: ++this.tableVersion,
    });
    if (result.ok) for (const warning of result.warnings) log.warn(warning);
    return result;
  }

  /** list_changed from a backend: rebuild and swap, or keep the old table if the change collides. */
  private catalogChanged(server: string, kinds: CatalogKind[]): void {
    if (!this.backends.has(server)) return;
    const built = this.build(this.backends);
    if (!built.ok) {
      log.error({ server, errors: built.errors }, "catalog change rejected; the previous routing table keeps serving");
      return;
    }
    this.table = built.table;
    this.broadcastListChanged(kinds);
  }

  /** A backend that comes back (restart, re-initialized session) has forgotten its subscriptions: renew them. */
  private backendStateChanged(server: string, state: BackendState, detail: string | undefined): void {
    log.info({ server, state, detail }, "backend state");
    const backend = this.backends.get(server);
    if (state === "ready" && backend !== undefined) this.dispatcher.resubscribe(server, backend);
  }

  private startPolicy(config: ResolvedConfig): Promise<GatewayPolicy | undefined> {
    // A load a peer's announcement caused is not announced again (N replicas would echo every revision N times).
    return startPolicy(config, { onLoaded: (revision) => (this.peerPolicyLoads > 0 ? undefined : this.sessions.announceReload("policy", revision)) });
  }

  /** Another replica reloaded. Config: re-read our own file (serve's hook). Policy: fetch now, not at the next poll. */
  private peerReloaded(what: "config" | "policy", revision: string | undefined): void {
    if (what === "config") {
      log.info("another replica reloaded its config; reloading ours");
      this.onPeerConfigReload?.();
      return;
    }
    const runtime = this.policy?.runtime;
    if (runtime === undefined || (revision !== undefined && runtime.engine.revision === revision)) return;
    log.info({ revision }, "another replica loaded a new policy; reloading ours");
    this.peerPolicyLoads++;
    runtime
      .reloadNow()
      .catch((error: unknown) => log.warn({ err: (error as Error).message }, "policy reload after a peer's failed"))
      .finally(() => this.peerPolicyLoads--);
  }

  /** To the streams held here: a reload reaches every replica, and each tells its own streams (not N copies). */
  private broadcastListChanged(kinds: CatalogKind[]): void {
    for (const session of this.sessions.local.values()) {
      for (const kind of kinds) session.sendLocal({ jsonrpc: "2.0", method: LIST_CHANGED_BY_KIND[kind] });
    }
    for (const kind of kinds) this.modern.listeners.broadcast({ jsonrpc: "2.0", method: LIST_CHANGED_BY_KIND[kind] });
  }
}

/** Container servers that cannot run as containers here become their fallback process (with a warning). */
async function withContainerPlan(config: ResolvedConfig): Promise<{ config: ResolvedConfig; containers: ContainerContext | undefined }> {
  const plan = await planContainers(config);
  for (const warning of plan.warnings) log.warn(warning);
  return { config: { ...config, servers: plan.servers }, containers: plan.context };
}

/** Containers of this deployment left by a gateway that died without cleaning up (SIGKILL, power loss). */
async function removeOrphanContainers(containers: ContainerContext | undefined): Promise<void> {
  if (containers?.runtime === undefined) return;
  try {
    const removed = await removeOrphans(containers.runtime, containers.owner);
    if (removed.length > 0) log.warn({ removed: removed.map((c) => `${c.server} ${c.id.slice(0, 12)}`) }, "removed containers left by a gateway that is gone");
  } catch (error) {
    log.warn({ err: (error as Error).message }, "could not look for orphaned containers");
  }
}
