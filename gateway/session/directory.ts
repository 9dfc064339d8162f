/**
 * Sessions across replicas. This replica keeps the live `ClientSession` objects it serves (`local`); the shared
 * records (state/) let any replica take over a session another created, and the replica bus carries what must
 * reach the replica that holds a session's GET stream or waits for a client's answer.
 *
 * Over the in-memory state there is one replica and all of this reduces to the local store.
 */
import { ErrorCode, type JsonRpcId, type JsonRpcMessage, type JsonRpcResponse, type LogLevel, type ProtocolVersion } from "../protocol/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { BusEnvelope, SessionRecord, SharedState } from "../state/index.ts";
import { ClientSession, principalOf, replicaOfClientRequest, type OutboundChannel } from "./session.ts";
import { MemorySessionStore } from "./store.ts";
import { logger } from "../log.ts";

const log = logger("sessions");
/** A replica renews a session's shared TTL at most this often per session (and every request may trigger it). */
const REFRESH_EVERY_MS = 1_000;
/** newSessionId(): 16 random bytes, base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

export interface SessionDirectoryOptions {
  state: SharedState;
  idleTimeoutMs: number;
  /**
   * The session left this replica: cancel its calls, release its per-session backends. `ended`: it is over
   * everywhere (DELETE; or with one replica, any removal), not merely gone from here while it lives on elsewhere.
   */
  onRemove: (session: ClientSession, ended: boolean) => void;
  /** The client cancelled a request that another replica reported it does not have in flight. */
  onCancel: (sessionId: string, requestId: JsonRpcId, reason: string) => void;
  /** Another replica applied a new config or policy. */
  onPeerReload: (what: "config" | "policy", revision: string | undefined) => void;
}

export class SessionDirectory {
  readonly local: MemorySessionStore;
  private readonly state: SharedState;
  private readonly ttlMs: number;
  private readonly options: SessionDirectoryOptions;
  private readonly keeper: NodeJS.Timeout;

  constructor(options: SessionDirectoryOptions) {
    this.options = options;
    this.state = options.state;
    this.ttlMs = options.idleTimeoutMs;
    this.local = new MemorySessionStore({
      idleTimeoutMs: options.idleTimeoutMs,
      onRemove: (session, why) => {
        // With one replica, gone from here is gone everywhere: the record goes with the session.
        const ended = why === "ended" || this.state.kind === "memory";
        if (ended && why !== "ended") void this.state.sessions.end(session.id, this.ttlMs);
        options.onRemove(session, ended);
      },
    });
    this.state.bus.onMessage((message) => this.receive(message));
    // Sessions held open here (a GET stream, a long call) make no requests that would renew them: renew them.
    this.keeper = setInterval(() => this.renewHeld(), Math.max(1_000, Math.min(60_000, Math.floor(this.ttlMs / 4))));
    this.keeper.unref();
  }

  get replicaId(): string {
    return this.state.replicaId;
  }

  /** Why sessions this replica does not hold cannot be served now, or undefined. */
  unavailable(): string | undefined {
    return this.state.unavailable();
  }

  /** Shares a new session; throws StateUnavailableError when it cannot be (then it is not kept here either). */
  async create(session: ClientSession): Promise<void> {
    await this.state.sessions.create(recordOf(session), this.ttlMs);
    session.sharedTouchedAt = Date.now();
    this.local.add(session);
  }

  /**
   * The session `id` for this caller: undefined when it does not exist, ended, or belongs to someone else.
   * Throws StateUnavailableError only when this replica does not hold it and the shared records cannot be read.
   */
  async resolve(id: string, identity: AgentIdentity): Promise<ClientSession | undefined> {
    const held = this.local.get(id);
    if (held !== undefined) {
      if (held.isClosed || !held.admits(identity)) return undefined;
      this.refreshSoon(held);
      return held;
    }
    // Not an id this gateway could have made: no Redis round trip for it (and nothing odd in a key name).
    if (!SESSION_ID.test(id)) return undefined;
    const shared = await this.state.sessions.get(id);
    if (shared === undefined || shared.record.principal !== principalOf(identity)) return undefined;
    // Two requests for the same session can arrive together: the first to come back wins, the other reuses it.
    const raced = this.local.get(id);
    if (raced !== undefined) return !raced.isClosed && raced.admits(identity) ? raced : undefined;
    const { record } = shared;
    const session = new ClientSession({
      id: record.id,
      protocolVersion: record.protocolVersion as ProtocolVersion,
      identity,
      clientInfo: record.clientInfo,
      clientCapabilities: record.clientCapabilities,
      replicaId: this.state.replicaId,
    });
    session.logLevel = shared.logLevel as LogLevel | undefined;
    session.sharedTouchedAt = Date.now();
    this.followStream(session, shared.stream);
    this.local.add(session);
    log.debug({ session: id, stream: shared.stream }, "took over a session created on another replica");
    return session;
  }

  /** Ends the session everywhere. Throws StateUnavailableError when only this replica's copy could be ended. */
  async end(session: ClientSession): Promise<void> {
    this.local.remove(session.id, "ended");
    await this.state.sessions.end(session.id, this.ttlMs);
    this.state.bus.broadcast({ type: "session-ended", session: session.id }).catch(() => undefined);
  }

  /** A GET stream opened here: it becomes the session's one stream, wherever another was open. */
  streamOpened(session: ClientSession): void {
    this.quietly(this.state.sessions.setStream(session.id, this.state.replicaId, true), "record the GET stream");
    this.quietly(this.state.bus.broadcast({ type: "stream-moved", session: session.id, replica: this.state.replicaId }), "announce the GET stream");
  }

  streamClosed(session: ClientSession): void {
    if (session.isClosed) return;
    // Announced only when this replica still held it: a late close must not erase the pointer to a newer stream.
    const released = this.state.sessions.setStream(session.id, this.state.replicaId, false).then((cleared) =>
      cleared ? this.state.bus.broadcast({ type: "stream-moved", session: session.id, replica: null }) : undefined,
    );
    this.quietly(released, "clear the GET stream");
  }

  logLevelChanged(session: ClientSession, level: LogLevel): void {
    this.quietly(this.state.sessions.setLogLevel(session.id, level), "share the log level");
  }

  /**
   * A response the client POSTed here. Settled here when this replica asked; otherwise relayed to the replica
   * named in its id. False when nobody asked.
   */
  routeClientResponse(session: ClientSession, response: JsonRpcResponse): boolean {
    if (session.settleClientRequest(response)) return true;
    const replica = replicaOfClientRequest(response.id);
    if (replica === undefined || replica === this.state.replicaId) return false;
    this.quietly(this.state.bus.send(replica, { type: "client-response", session: session.id, response }), "relay a client response");
    return true;
  }

  /** A cancellation for a request this replica is not running: the replica that runs it is told. */
  relayCancel(session: ClientSession, requestId: JsonRpcId, reason: string): void {
    this.quietly(this.state.bus.broadcast({ type: "cancel", session: session.id, requestId, reason }), "relay a cancellation");
  }

  announceReload(what: "config" | "policy", revision?: string): void {
    this.quietly(this.state.bus.broadcast({ type: "reload", what, revision }), `announce the ${what} reload`);
  }

  close(): void {
    clearInterval(this.keeper);
    this.local.close();
  }

  private receive(message: BusEnvelope): void {
    const session = "session" in message ? this.local.get(message.session) : undefined;
    switch (message.type) {
      case "deliver":
        if (session === undefined || !session.sendLocal(message.message)) log.debug({ session: message.session }, "relayed message for a stream no longer here dropped");
        return;
      case "client-response":
        if (session === undefined || !session.settleClientRequest(message.response)) log.debug({ session: message.session }, "relayed response to no pending request dropped");
        return;
      case "cancel":
        this.options.onCancel(message.session, message.requestId, message.reason);
        return;
      case "session-ended":
        this.local.remove(message.session, "ended");
        return;
      case "stream-moved":
        if (session === undefined) return;
        if (message.replica !== null) session.closeStandalone();
        this.followStream(session, message.replica ?? undefined);
        return;
      case "reload":
        this.options.onPeerReload(message.what, message.revision);
        return;
    }
  }

  /** Points the session's remote channel at the replica holding its stream (none when it is here or closed). */
  private followStream(session: ClientSession, replica: string | undefined): void {
    if (replica === undefined || replica === this.state.replicaId) {
      session.setRemoteStream(undefined);
      return;
    }
    const channel: OutboundChannel = {
      send: (message: JsonRpcMessage) => {
        this.state.bus.send(replica, { type: "deliver", session: session.id, message }).then(
          (received) => {
            if (!received) this.streamLost(session, replica, message);
          },
          (error: unknown) => log.debug({ err: (error as Error).message }, "could not relay to the stream's replica"),
        );
        return true;
      },
      close: () => {},
    };
    session.setRemoteStream(channel);
  }

  /**
   * The replica holding the stream is gone (killed): stop sending into the void, clear its stale pointer, and fail
   * a request that went there at once rather than at its timeout. The client's reconnect opens a new stream.
   */
  private streamLost(session: ClientSession, replica: string, message: JsonRpcMessage): void {
    session.setRemoteStream(undefined);
    this.quietly(this.state.sessions.setStream(session.id, replica, false), "clear a dead replica's stream");
    if ("method" in message && "id" in message) {
      session.settleClientRequest({ jsonrpc: "2.0", id: message.id, error: { code: ErrorCode.BackendUnavailable, message: "the client's GET stream was on a replica that is gone; it must reconnect" } });
    }
  }

  private refreshSoon(session: ClientSession, now = Date.now()): void {
    if (now - session.sharedTouchedAt < REFRESH_EVERY_MS) return;
    session.sharedTouchedAt = now;
    void this.refresh(session);
  }

  private async refresh(session: ClientSession): Promise<void> {
    let outcome;
    try {
      outcome = await this.state.sessions.touch(recordOf(session), this.ttlMs);
    } catch {
      return; // Redis is away: the session goes on here, and the next request tries again.
    }
    if (outcome.status === "ended") {
      this.local.remove(session.id, "ended");
    } else if (outcome.status === "restored") {
      log.info({ session: session.id }, "shared state had lost a live session; restored it");
      if (session.hasStandaloneChannel) this.streamOpened(session);
    } else {
      if (!session.hasStandaloneChannel) this.followStream(session, outcome.stream);
      if (outcome.logLevel !== undefined) session.logLevel = outcome.logLevel as LogLevel;
    }
  }

  private renewHeld(): void {
    const now = Date.now();
    for (const session of this.local.values()) {
      if (session.hasStandaloneChannel || session.activeCalls > 0) this.refreshSoon(session, now);
    }
  }

  private quietly(pending: Promise<unknown>, what: string): void {
    pending.catch((error: unknown) => log.debug({ err: (error as Error).message }, `could not ${what}`));
  }
}

function recordOf(session: ClientSession): SessionRecord {
  return {
    id: session.id,
    principal: session.principal,
    protocolVersion: session.protocolVersion,
    clientInfo: session.clientInfo,
    clientCapabilities: session.clientCapabilities,
    createdAt: session.createdAt,
  };
}
