/**
 * Shared state for a single replica: the embedded default. Nothing leaves the process; the records still expire
 * and tombstone like the Redis ones, so the session layer behaves the same over either.
 */
import type { BusEnvelope, BusMessage, ReplicaBus, SessionRecord, SessionRecords, SharedSession, SharedState, TouchOutcome } from "./types.ts";
import { MemoryRateLimiter, type RateLimiter } from "./rate-limit.ts";

interface Entry {
  shared: SharedSession;
  expiresAt: number;
}

class MemorySessionRecords implements SessionRecords {
  private readonly entries = new Map<string, Entry>();
  private readonly tombstones = new Map<string, number>();

  async create(record: SessionRecord, ttlMs: number): Promise<void> {
    this.sweep();
    this.entries.set(record.id, { shared: { record, stream: undefined, logLevel: undefined, backendSessions: {} }, expiresAt: Date.now() + ttlMs });
  }

  async get(id: string): Promise<SharedSession | undefined> {
    return this.live(id)?.shared;
  }

  async touch(record: SessionRecord, ttlMs: number): Promise<TouchOutcome> {
    const entry = this.live(record.id);
    if (entry !== undefined) {
      entry.expiresAt = Date.now() + ttlMs;
      return { status: "alive", stream: entry.shared.stream, logLevel: entry.shared.logLevel };
    }
    if ((this.tombstones.get(record.id) ?? 0) > Date.now()) return { status: "ended" };
    await this.create(record, ttlMs);
    return { status: "restored" };
  }

  async setStream(id: string, replica: string, open: boolean): Promise<boolean> {
    const shared = this.live(id)?.shared;
    if (shared === undefined) return false;
    if (open) shared.stream = replica;
    else if (shared.stream === replica) shared.stream = undefined;
    else return false;
    return true;
  }

  async setLogLevel(id: string, level: string): Promise<void> {
    const shared = this.live(id)?.shared;
    if (shared !== undefined) shared.logLevel = level;
  }

  async setBackendSession(id: string, server: string, upstreamSessionId: string | undefined): Promise<void> {
    const shared = this.live(id)?.shared;
    if (shared === undefined) return;
    if (upstreamSessionId === undefined) delete shared.backendSessions[server];
    else shared.backendSessions[server] = upstreamSessionId;
  }

  async end(id: string, ttlMs: number): Promise<void> {
    this.entries.delete(id);
    this.tombstones.set(id, Date.now() + ttlMs);
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined || entry.expiresAt > Date.now()) return entry;
    this.entries.delete(id);
    return undefined;
  }

  /** Expired entries go when new ones arrive, so memory follows the live session count. */
  private sweep(): void {
    if (this.entries.size + this.tombstones.size < 1_024) return;
    const now = Date.now();
    for (const [id, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(id);
    for (const [id, until] of this.tombstones) if (until <= now) this.tombstones.delete(id);
  }
}

/** One replica: a message for itself is handled in place; there is nobody to broadcast to. */
class LocalBus implements ReplicaBus {
  private handler: ((message: BusEnvelope) => void) | undefined;
  private readonly self: string;

  constructor(self: string) {
    this.self = self;
  }

  async send(replica: string, message: BusMessage): Promise<boolean> {
    if (replica !== this.self || this.handler === undefined) return false;
    this.handler({ ...message, from: this.self });
    return true;
  }

  async broadcast(): Promise<void> {}

  onMessage(handler: (message: BusEnvelope) => void): void {
    this.handler = handler;
  }
}

export class MemoryState implements SharedState {
  readonly kind = "memory";
  readonly replicaId: string;
  readonly sessions: SessionRecords = new MemorySessionRecords();
  readonly bus: ReplicaBus;
  readonly limiter: RateLimiter = new MemoryRateLimiter();

  constructor(replicaId: string) {
    this.replicaId = replicaId;
    this.bus = new LocalBus(replicaId);
  }

  unavailable(): string | undefined {
    return undefined;
  }

  async ready(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await this.limiter.close();
  }
}
