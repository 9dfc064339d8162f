/**
 * Audit sink that copies each record into a Redis stream (`XADD <stream> MAXLEN ~ <maxLen> * record <line>`).
 *
 * ioredis's own offline queue is off: it would grow without bound during an outage. Instead the sink keeps its
 * own bounded buffer, drops the oldest records past `maxBuffered` (counted), and sends one pipeline at a time so
 * that what failed can go back to the front of the buffer and arrive in order once Redis is back. Delivery is
 * at least once: a pipeline cut off mid-reply may have been applied in part, and its unconfirmed records are resent.
 */
import { Redis } from "ioredis";
import { logger, redisTarget } from "../log.ts";
import type { AuditSink, SinkStats } from "./sink.ts";

export interface RedisSinkOptions {
  /** redis:// or rediss:// URL; it may carry a password, so only its host:port is ever logged. */
  url: string;
  stream: string;
  /** Approximate cap on the stream's length (trimmed by Redis with `MAXLEN ~`). */
  maxLen: number;
  /** Records held in memory while Redis is away; the oldest go first beyond it. Default 10,000. */
  maxBuffered?: number;
}

const log = logger("audit-redis");
const MAX_BATCH = 1_000;
const RETRY_CAP_MS = 1_000;
const CLOSE_BUDGET_MS = 1_000;

export function createRedisSink(options: RedisSinkOptions): AuditSink {
  const maxBuffered = Math.max(1, options.maxBuffered ?? 10_000);
  const batchSize = Math.min(MAX_BATCH, maxBuffered);
  const target = redisTarget(options.url);
  const queue = new Fifo();
  let sending: string[] = [];
  let written = 0;
  let dropped = 0;
  let lastError: string | undefined;
  let flushQueued = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let healthy = true;
  let closed = false;
  let idleWaiters: Array<() => void> = [];

  const redis = new Redis(options.url, {
    enableOfflineQueue: false,
    // In-flight commands fail at once on a dropped connection instead of being replayed by ioredis: the sink
    // requeues them itself, in order, and a replay on top of that would duplicate them.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // A server that accepts but never answers would otherwise hold the one in-flight pipeline forever.
    commandTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), RETRY_CAP_MS),
  });

  const outage = (message: string) => {
    lastError = message;
    if (healthy && !closed) {
      healthy = false;
      log.warn({ target, error: message, buffered: queue.size + sending.length }, "Redis audit sink lost its connection; buffering records");
    }
  };
  // ioredis emits "error" (ECONNREFUSED, WRONGPASS, ...) before the "close" it causes: keep the specific cause.
  let causeKnown = false;
  redis.on("error", (err: Error) => {
    causeKnown = true;
    outage(err.message);
  });
  redis.on("close", () => {
    if (!causeKnown && !closed) outage(`connection to ${target} closed`);
    causeKnown = false;
  });
  redis.on("ready", () => {
    if (!healthy) log.info({ target, buffered: queue.size + sending.length, dropped }, "Redis audit sink reconnected; delivering buffer");
    healthy = true;
    scheduleFlush();
  });

  function trim(): void {
    while (queue.size > 0 && queue.size + sending.length > maxBuffered) {
      queue.shift();
      dropped++;
    }
  }

  function scheduleFlush(): void {
    if (flushQueued) return;
    flushQueued = true;
    // Every write made in this tick lands in the queue before the microtask runs: one pipeline carries them all.
    queueMicrotask(() => {
      flushQueued = false;
      flush();
    });
  }

  function flush(): void {
    if (sending.length > 0 || queue.size === 0 || redis.status !== "ready" || retryTimer !== undefined) return settleIdle();
    sending = queue.take(batchSize);
    const batch = sending;
    let results: Promise<Array<[Error | null, unknown]> | null>;
    try {
      const pipeline = redis.pipeline();
      for (const line of batch) pipeline.xadd(options.stream, "MAXLEN", "~", options.maxLen, "*", "record", line);
      results = pipeline.exec();
    } catch (err) {
      results = Promise.reject(err);
    }
    results.then(
      (replies) => settle(batch, replies ?? []),
      (err: unknown) => settle(batch, [], err),
    );
  }

  function settle(batch: string[], replies: Array<[Error | null, unknown]>, failure?: unknown): void {
    const failed: string[] = [];
    let firstError: unknown = failure;
    batch.forEach((line, i) => {
      const reply = replies[i];
      if (reply !== undefined && reply[0] === null) written++;
      else {
        failed.push(line);
        firstError ??= reply?.[0] ?? new Error("no reply");
      }
    });
    sending = [];
    if (failed.length > 0) {
      queue.unshiftAll(failed);
      trim();
      // Off a dropped connection ioredis reports its own retry-limit error; the connection events say more.
      const connected = redis.status === "ready";
      outage(connected ? (firstError instanceof Error ? firstError.message : String(firstError)) : `connection to ${target} lost`);
      // Connected yet refused (a reply error such as WRONGTYPE or OOM): retry later rather than in a hot loop.
      // Disconnected: the "ready" event resumes delivery.
      if (connected && !closed) {
        retryTimer = setTimeout(() => {
          retryTimer = undefined;
          scheduleFlush();
        }, RETRY_CAP_MS);
        retryTimer.unref();
      }
      return settleIdle();
    }
    flush();
  }

  function settleIdle(): void {
    if (sending.length > 0 || queue.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  }

  return {
    name: `redis:${target}/${options.stream}`,
    write(line: string): void {
      if (closed) {
        // Nothing will deliver it any more; it is counted rather than vanishing.
        dropped++;
        return;
      }
      queue.push(line);
      trim();
      scheduleFlush();
    },
    async close(): Promise<void> {
      if (closed) return;
      const deadline = Date.now() + CLOSE_BUDGET_MS;
      let timer: NodeJS.Timeout | undefined;
      const budget = (ms: number) => new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, ms))));
      // Waits out the budget even while disconnected: a reconnect within it still delivers the rest.
      if (queue.size > 0 || sending.length > 0) {
        await Promise.race([new Promise<void>((resolve) => idleWaiters.push(resolve)), budget(deadline - Date.now())]);
        clearTimeout(timer);
      }
      closed = true;
      clearTimeout(retryTimer);
      const left = queue.size + sending.length;
      if (left > 0) log.warn({ target, undelivered: left }, "Redis audit sink closed with records undelivered");
      if (redis.status === "ready" && sending.length === 0) {
        await Promise.race([redis.quit().catch(() => undefined), budget(deadline - Date.now())]);
        clearTimeout(timer);
      }
      if (redis.status !== "end") redis.disconnect();
    },
    stats(): SinkStats {
      const stats: SinkStats = { written, dropped, buffered: queue.size + sending.length };
      if (lastError !== undefined) stats.lastError = lastError;
      return stats;
    },
  };
}

/** A FIFO whose shift is O(1): an outage can push far more records through the drop path than the buffer holds. */
class Fifo {
  private items: string[] = [];
  private head = 0;

  get size(): number {
    return this.items.length - this.head;
  }
  push(item: string): void {
    this.items.push(item);
  }
  shift(): void {
    this.head++;
    if (this.head > 1_024 && this.head * 2 > this.items.length) this.compact();
  }
  take(count: number): string[] {
    const taken = this.items.slice(this.head, this.head + count);
    this.head += taken.length;
    if (this.head * 2 > this.items.length) this.compact();
    return taken;
  }
  unshiftAll(front: string[]): void {
    this.items = front.concat(this.items.slice(this.head));
    this.head = 0;
  }
  private compact(): void {
    if (this.head === 0) return;
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}
