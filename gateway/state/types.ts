/**
 * What replicas share: session records, a message bus between replicas, and rate-limit buckets. One interface,
 * two implementations: in memory (one replica, the embedded default) and Redis (any number of replicas).
 */
import type { ClientCapabilities, Implementation, JsonRpcId, JsonRpcMessage, JsonRpcResponse } from "../protocol/index.ts";
import type { RateLimiter } from "./rate-limit.ts";

/** What any replica needs to carry on a session another replica created. */
export interface SessionRecord {
  id: string;
  /** The identity binding: issuer + subject of the agent that initialized it. */
  principal: string;
  protocolVersion: string;
  clientInfo?: Implementation | undefined;
  clientCapabilities: ClientCapabilities;
  createdAt: number;
}

/** A record with the fields that change during the session's life. */
export interface SharedSession {
  record: SessionRecord;
  /** The replica whose GET stream is open for this session, if any. */
  stream: string | undefined;
  logLevel: string | undefined;
  /** Upstream session ids of per-session HTTP servers, by server name. */
  backendSessions: Record<string, string>;
}

export type TouchOutcome =
  /** The record is there; its TTL was renewed. Carries the fields other replicas may have changed. */
  | { status: "alive"; stream: string | undefined; logLevel: string | undefined }
  /** It was ended (DELETE on some replica): the local copy must end too. */
  | { status: "ended" }
  /** The store had lost it (Redis restarted empty, or it expired while this replica held it open): rewritten. */
  | { status: "restored" };

export interface SessionRecords {
  create(record: SessionRecord, ttlMs: number): Promise<void>;
  get(id: string): Promise<SharedSession | undefined>;
  touch(record: SessionRecord, ttlMs: number): Promise<TouchOutcome>;
  /**
   * open: `replica` now holds the session's stream. Not open: clears it, but only if `replica` still holds it;
   * resolves true when it did (so only then is there a change to announce).
   */
  setStream(id: string, replica: string, open: boolean): Promise<boolean>;
  setLogLevel(id: string, level: string): Promise<void>;
  setBackendSession(id: string, server: string, upstreamSessionId: string | undefined): Promise<void>;
  /** Deletes the record and leaves a tombstone for `ttlMs`, so a replica that still holds a copy learns it ended. */
  end(id: string, ttlMs: number): Promise<void>;
}

/** Messages between replicas. Directed ones go to the replica that holds what they are about. */
export type BusMessage =
  /** To the replica holding the session's GET stream: send this message on it. */
  | { type: "deliver"; session: string; message: JsonRpcMessage }
  /** To the replica that sent a server-to-client request: the client's answer, POSTed to another replica. */
  | { type: "client-response"; session: string; response: JsonRpcResponse }
  /** Broadcast: the client cancelled a request that is not in flight on the replica it told. */
  | { type: "cancel"; session: string; requestId: JsonRpcId; reason: string }
  /** Broadcast: the session ended (DELETE); copies elsewhere end too. */
  | { type: "session-ended"; session: string }
  /** Broadcast: the session's GET stream is now on `replica` (or closed, when null). */
  | { type: "stream-moved"; session: string; replica: string | null }
  /** Broadcast: a replica applied a new config or policy revision; the others reload theirs. */
  | { type: "reload"; what: "config" | "policy"; revision?: string | undefined };

export type BusEnvelope = BusMessage & { from: string };

export interface ReplicaBus {
  /** Resolves true when the replica received it (it is subscribed), false when no such replica listens. */
  send(replica: string, message: BusMessage): Promise<boolean>;
  /** To every other replica. */
  broadcast(message: BusMessage): Promise<void>;
  /** One handler per process: the gateway's. Messages from this replica itself are never delivered. */
  onMessage(handler: (message: BusEnvelope) => void): void;
}

export interface SharedState {
  readonly kind: "memory" | "redis";
  /** Unique per process: a restarted pod is a new replica, so nothing is delivered to a dead one's channel. */
  readonly replicaId: string;
  readonly sessions: SessionRecords;
  readonly bus: ReplicaBus;
  readonly limiter: RateLimiter;
  /** Why shared state cannot be used now, or undefined when it can. */
  unavailable(): string | undefined;
  /** Resolves when the store is usable, or after `timeoutMs` (then `unavailable()` says why). */
  ready(timeoutMs: number): Promise<boolean>;
  close(): Promise<void>;
}
