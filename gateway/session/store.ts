/**
 * Where sessions live. In memory by default; the Redis store (scale-out issue) implements the same interface.
 * Idle sessions are reaped so that a client that vanishes without DELETE does not hold memory forever.
 */
import type { ClientSession } from "./session.ts";

/** ended: DELETE, or ended on another replica. idle: reaped here. shutdown: this process is stopping. */
export type RemovalReason = "ended" | "idle" | "shutdown";

export interface SessionStore {
  get(id: string): ClientSession | undefined;
  add(session: ClientSession): void;
  /** Closes and forgets; returns false when there was no such session. */
  remove(id: string, why?: RemovalReason): boolean;
  values(): IterableIterator<ClientSession>;
  readonly size: number;
}

export class MemorySessionStore implements SessionStore {
  private readonly sessions = new Map<string, ClientSession>();
  private reaper: NodeJS.Timeout | undefined;
  private readonly onRemove: (session: ClientSession, why: RemovalReason) => void;

  constructor(options: { idleTimeoutMs: number; onRemove?: (session: ClientSession, why: RemovalReason) => void }) {
    this.onRemove = options.onRemove ?? (() => {});
    const every = Math.max(1_000, Math.min(60_000, Math.floor(options.idleTimeoutMs / 4)));
    this.reaper = setInterval(() => this.reapIdle(options.idleTimeoutMs), every);
    this.reaper.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  get(id: string): ClientSession | undefined {
    return this.sessions.get(id);
  }

  add(session: ClientSession): void {
    this.sessions.set(session.id, session);
  }

  remove(id: string, why: RemovalReason = "ended"): boolean {
    const session = this.sessions.get(id);
    if (session === undefined) return false;
    this.sessions.delete(id);
    session.close();
    this.onRemove(session, why);
    return true;
  }

  values(): IterableIterator<ClientSession> {
    return this.sessions.values();
  }

  reapIdle(idleTimeoutMs: number, now = Date.now()): number {
    let reaped = 0;
    for (const session of [...this.sessions.values()]) {
      if (!session.hasStandaloneChannel && session.activeCalls === 0 && now - session.lastSeenAt > idleTimeoutMs) {
        this.remove(session.id, "idle");
        reaped++;
      }
    }
    return reaped;
  }

  close(): void {
    if (this.reaper) clearInterval(this.reaper);
    this.reaper = undefined;
    for (const id of [...this.sessions.keys()]) this.remove(id, "shutdown");
  }
}
