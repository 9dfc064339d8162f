/**
 * Token buckets kept in Redis, so every gateway replica draws from the same buckets.
 *
 * The whole decision is one Lua script: read every bucket, decide, and write them all only when every one had a
 * token. Running it atomically in Redis is what makes "all or nothing" hold across replicas without locks, and it
 * reads the clock with `TIME` inside the script so replicas whose own clocks disagree still refill identically.
 * Each bucket is a hash (`tokens`, `ts` in ms) that expires once it would be full again: a missing bucket is a
 * full one, so idle agents cost nothing.
 */
import type { Redis } from "ioredis";
import { StateUnavailableError } from "./errors.ts";
import { checkBuckets, type BucketSpec, type RateDecision, type RateLimiter } from "./rate-limit.ts";

/** Kept past the moment a bucket is full again, so a bucket is never dropped while it still holds back a caller. */
export const REDIS_EXPIRY_MARGIN_MS = 1_000;

/**
 * KEYS[i] is a bucket hash; ARGV[2i-1] and ARGV[2i] are its perMinute and burst. Returns {1} when allowed, or
 * {0, i, waitMs} naming the bucket that waits longest. A denial writes nothing. A key listed twice must hold two
 * tokens (the `level` table carries the first take into the second). Numbers passed to redis.call are written with
 * %.17g, so fractional token counts survive the round trip exactly.
 */
const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local level = {}
local worst, worstAt = 0, 0
for i = 1, #KEYS do
  local key = KEYS[i]
  local perMinute = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tokens = level[key]
  if tokens == nil then
    local h = redis.call('HMGET', key, 'tokens', 'ts')
    local stored, ts = tonumber(h[1]), tonumber(h[2])
    if stored == nil or ts == nil then
      tokens = burst
    else
      tokens = math.min(burst, stored + math.max(0, now - ts) * perMinute / 60000)
    end
  end
  if tokens >= 1 then
    level[key] = tokens - 1
  else
    level[key] = tokens
    local wait = math.max(1, math.ceil((1 - tokens) * 60000 / perMinute))
    if wait > worst then worst, worstAt = wait, i end
  end
end
if worstAt > 0 then return {0, worstAt, worst} end
for i = 1, #KEYS do
  local key = KEYS[i]
  local perMinute = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local refill = math.ceil((burst - level[key]) * 60000 / perMinute)
  redis.call('HSET', key, 'tokens', level[key], 'ts', now)
  redis.call('PEXPIRE', key, math.min(refill + ${REDIS_EXPIRY_MARGIN_MS}, 1e12))
end
return {1}
`;

/** ioredis's scripted command: EVALSHA, and EVAL when the server lost the script (restart, SCRIPT FLUSH, failover). */
type TakeTokens = (numberOfKeys: number, ...keysAndArgs: string[]) => Promise<unknown>;

export interface RedisRateLimiterOptions {
  /**
   * A client the caller owns and closes. Create it with `enableOfflineQueue: false, maxRetriesPerRequest: 0`
   * (and a `commandTimeout`) so that during an outage `take` fails at once rather than queueing requests behind
   * a dead connection.
   */
  redis: Redis;
  /** Namespaces this gateway's keys (`${keyPrefix}rl:${key}`). No `{` in it: the hash tag must come from the bucket key. */
  keyPrefix: string;
}

export class RedisRateLimiter implements RateLimiter {
  #takeTokens: TakeTokens;
  #keyPrefix: string;
  #closed = false;

  constructor(options: RedisRateLimiterOptions) {
    // Redis Cluster hashes the first {...} in a key: a brace in the prefix would put every bucket in one slot,
    // and a multi-key script across the agent's buckets would no longer be guaranteed a single slot.
    if (options.keyPrefix.includes("{")) throw new Error(`rate-limit keyPrefix must not contain "{": ${options.keyPrefix}`);
    options.redis.defineCommand("gatehouseTakeTokens", { lua: SCRIPT });
    const redis = options.redis as Redis & { gatehouseTakeTokens: TakeTokens };
    this.#takeTokens = (...args) => redis.gatehouseTakeTokens(...args);
    this.#keyPrefix = options.keyPrefix;
  }

  async take(buckets: readonly BucketSpec[]): Promise<RateDecision> {
    if (this.#closed) throw new Error("RedisRateLimiter is closed");
    checkBuckets(buckets);
    if (buckets.length === 0) return { allowed: true };
    const keys = buckets.map((spec) => `${this.#keyPrefix}rl:${spec.key}`);
    const args = buckets.flatMap((spec) => [String(spec.perMinute), String(spec.burst)]);
    let reply: unknown;
    try {
      reply = await this.#takeTokens(keys.length, ...keys, ...args);
    } catch (err) {
      throw new StateUnavailableError(`rate-limit store unavailable: ${reason(err)}`, { cause: err });
    }
    return decode(reply, buckets);
  }

  /** Does not quit the client: it was handed in, and the caller may share it with other state. */
  async close(): Promise<void> {
    this.#closed = true;
  }
}

function decode(reply: unknown, buckets: readonly BucketSpec[]): RateDecision {
  if (Array.isArray(reply) && reply[0] === 1) return { allowed: true };
  if (Array.isArray(reply) && reply[0] === 0 && typeof reply[1] === "number" && typeof reply[2] === "number") {
    const bucket = buckets[reply[1] - 1];
    if (bucket !== undefined) return { allowed: false, retryAfterMs: Math.max(1, reply[2]), bucket };
  }
  throw new Error(`rate-limit script returned an unexpected reply: ${JSON.stringify(reply)}`);
}

/** The error's message with any credentials in a URL masked: messages end up in logs and HTTP errors. */
function reason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/\/\/[^/@\s]*@/g, "//***@");
}
