/**
 * Token-bucket rate limiting behind one interface, so a single gateway can keep its buckets in process memory
 * while replicas share theirs in Redis (rate-limit-redis.ts) without the caller knowing which.
 *
 * Both implementations follow the same arithmetic, so the same tests hold for both: a bucket refills
 * continuously, a missing bucket is a full one (which is what lets idle buckets be forgotten), and a denial
 * changes nothing, so a client hammering a closed bucket cannot push its own retry time further out.
 */

export interface BucketSpec {
  /** The bucket's identity, e.g. `agent:{a1}` or `tool:{a1}:notes/write`. Callers put the agent id in a `{…}` hash tag so all buckets of one call share a Redis Cluster slot. */
  key: string;
  /** Sustained rate: tokens refill at perMinute/60 per second. */
  perMinute: number;
  /** Bucket capacity (the burst); a new bucket starts full. */
  burst: number;
  /** Names the limit in errors and audit, e.g. "perAgent", "perAgentTool", "policy grant:x". */
  label: string;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterMs: number; bucket: BucketSpec };

export interface RateLimiter {
  /** Takes one token from every bucket, all or nothing: when any bucket is short, none is taken, and the answer names the bucket that waits longest. An empty list is allowed without any I/O. Throws StateUnavailableError when the store cannot answer (the caller chooses fail open or closed). */
  take(buckets: readonly BucketSpec[]): Promise<RateDecision>;
  /** Releases what the limiter itself owns (timers, not connections handed to it); `take` afterwards is a bug and throws. */
  close(): Promise<void>;
}

/**
 * Rejects specs that would make the arithmetic meaningless (a zero rate never refills, a burst below one never
 * allows anything). A plain Error, not StateUnavailableError: this is the caller's bug, and failing open on it
 * would hide it.
 */
export function checkBuckets(buckets: readonly BucketSpec[]): void {
  for (const spec of buckets) {
    if (typeof spec.key !== "string" || spec.key === "") throw new Error(`rate limit ${spec.label}: key must be a non-empty string`);
    if (!Number.isFinite(spec.perMinute) || spec.perMinute <= 0) throw new Error(`rate limit ${spec.label} (${spec.key}): perMinute must be a finite number > 0, got ${spec.perMinute}`);
    if (!Number.isFinite(spec.burst) || spec.burst < 1) throw new Error(`rate limit ${spec.label} (${spec.key}): burst must be a finite number >= 1, got ${spec.burst}`);
  }
}

/** Milliseconds until `tokens` reaches one token. Written as `* 60000 / perMinute` (not `/ perMs`) to keep whole-number cases exact. */
export function msUntilOneToken(tokens: number, perMinute: number): number {
  return Math.max(1, Math.ceil(((1 - tokens) * 60_000) / perMinute));
}

export interface MemoryRateLimiterOptions {
  /** Milliseconds on a clock that never goes back; injectable so tests control time. Default `performance.now()`. */
  now?: () => number;
  /** Hard cap on buckets held; past it the least recently updated bucket is forgotten. Default 100,000. */
  maxEntries?: number;
  /** How often buckets that have refilled completely are dropped. Default 60,000 ms. */
  sweepIntervalMs?: number;
}

interface Bucket {
  tokens: number;
  updatedAt: number;
  /** When the bucket is full again, at which point forgetting it changes nothing. */
  fullAt: number;
}

/**
 * Buckets in one process's memory: right for a single replica, and the fallback when no Redis is configured.
 * Memory stays bounded however many agents and tools appear: full buckets are swept (a missing bucket is a full
 * one), and the entry cap forgets the least recently updated bucket, which at worst lets that one agent burst again.
 */
export class MemoryRateLimiter implements RateLimiter {
  // Map order is insertion order, and every write re-inserts: the first entry is always the least recently updated.
  #buckets = new Map<string, Bucket>();
  #now: () => number;
  #maxEntries: number;
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: MemoryRateLimiterOptions = {}) {
    this.#now = options.now ?? (() => performance.now());
    this.#maxEntries = Math.max(1, options.maxEntries ?? 100_000);
    this.#sweeper = setInterval(() => this.sweep(), Math.max(1, options.sweepIntervalMs ?? 60_000));
    // A rate limiter is never a reason to keep the process alive.
    this.#sweeper.unref();
  }

  /** Buckets held right now; for tests and metrics. */
  get size(): number {
    return this.#buckets.size;
  }

  async take(buckets: readonly BucketSpec[]): Promise<RateDecision> {
    if (this.#closed) throw new Error("MemoryRateLimiter is closed");
    checkBuckets(buckets);
    if (buckets.length === 0) return { allowed: true };
    const now = this.#now();
    // Levels after this call's takes, per key: a key listed twice has to hold two tokens.
    const levels = new Map<string, number>();
    let denial: { retryAfterMs: number; bucket: BucketSpec } | undefined;
    for (const spec of buckets) {
      const tokens = levels.get(spec.key) ?? this.#level(spec, now);
      if (tokens >= 1) {
        levels.set(spec.key, tokens - 1);
        continue;
      }
      levels.set(spec.key, tokens);
      const wait = msUntilOneToken(tokens, spec.perMinute);
      if (denial === undefined || wait > denial.retryAfterMs) denial = { retryAfterMs: wait, bucket: spec };
    }
    if (denial !== undefined) return { allowed: false, ...denial };
    for (const spec of buckets) {
      const tokens = levels.get(spec.key)!;
      this.#buckets.delete(spec.key);
      if (this.#buckets.size >= this.#maxEntries) this.#evictOldest();
      const fullAt = now + ((spec.burst - tokens) * 60_000) / spec.perMinute;
      this.#buckets.set(spec.key, { tokens, updatedAt: now, fullAt });
    }
    return { allowed: true };
  }

  /** Drops every bucket that has refilled completely. Runs on its own timer; public so a caller can force it. */
  sweep(): void {
    const now = this.#now();
    for (const [key, bucket] of this.#buckets) if (bucket.fullAt <= now) this.#buckets.delete(key);
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    this.#buckets.clear();
  }

  #level(spec: BucketSpec, now: number): number {
    const bucket = this.#buckets.get(spec.key);
    if (bucket === undefined) return spec.burst;
    const elapsed = Math.max(0, now - bucket.updatedAt);
    return Math.min(spec.burst, bucket.tokens + (elapsed * spec.perMinute) / 60_000);
  }

  #evictOldest(): void {
    const oldest = this.#buckets.keys().next();
    if (oldest.done !== true) this.#buckets.delete(oldest.value);
  }
}
