/**
 * The same token-bucket cases against both limiters: memory with an injected clock (exact), Redis on a real
 * redis-server (test/helpers/redis.ts) where time is the server's and really passes, so bounds replace exact values.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type RunningRedis } from "../../test/helpers/redis.ts";
import { waitFor } from "../upstream/testing.ts";
import { StateUnavailableError } from "./errors.ts";
import { MemoryRateLimiter, type BucketSpec, type RateDecision, type RateLimiter } from "./rate-limit.ts";
import { REDIS_EXPIRY_MARGIN_MS, RedisRateLimiter } from "./rate-limit-redis.ts";

interface Harness {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A limiter with a keyspace of its own. */
  make(): RateLimiter;
  /** Lets `ms` pass: the memory clock jumps; Redis reads the server's clock, so the test really waits. */
  advance(ms: number): Promise<void>;
  /** How much less than the ideal retryAfterMs is acceptable: real time passes between a test's Redis calls. */
  slackMs: number;
}

const spec = (key: string, perMinute: number, burst: number): BucketSpec => ({ key: `agent:{a1}:${key}`, perMinute, burst, label: key });
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A denial naming `bucket`, its retry no longer than ideal and (real time passing for Redis) not much shorter. */
function expectDenial(decision: RateDecision, bucket: BucketSpec, idealMs: number, slackMs: number): number {
  if (decision.allowed) throw new Error(`expected ${bucket.label} to be denied`);
  expect(decision.bucket).toBe(bucket);
  expect(decision.retryAfterMs).toBeLessThanOrEqual(idealMs);
  expect(decision.retryAfterMs).toBeGreaterThanOrEqual(idealMs - slackMs);
  return decision.retryAfterMs;
}

function memoryHarness(): Harness {
  let clock = 1_000_000;
  return {
    name: "memory",
    slackMs: 0,
    // Nothing to start or stop: the limiters' sweep timers are unref'd.
    async setup() {},
    async teardown() {},
    make: () => new MemoryRateLimiter({ now: () => clock }),
    async advance(ms) {
      clock += ms;
    },
  };
}

const clients: Redis[] = [];
function client(url: string): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: (n) => Math.min(n * 50, 200) });
  // Outages are the point of some tests; the rejected commands carry what matters.
  redis.on("error", () => undefined);
  clients.push(redis);
  return redis;
}
const ready = (redis: Redis) => waitFor(() => redis.status === "ready", "redis client ready", 10_000);

function redisHarness(): Harness {
  let shared: RunningRedis | undefined;
  let redis: Redis;
  return {
    name: "redis",
    slackMs: 250,
    async setup() {
      shared = await startRedis();
      redis = client(shared.url);
      await ready(redis);
    },
    async teardown() {
      for (const c of clients) c.disconnect();
      await shared?.stop();
    },
    make: () => new RedisRateLimiter({ redis, keyPrefix: `test:${randomUUID()}:` }),
    advance: (ms) => sleep(ms),
  };
}

describe.each([memoryHarness(), redisHarness()])("$name rate limiter", (h) => {
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  it("allows the burst, then denies with the time until one token", async () => {
    const limiter = h.make();
    const bucket = spec("burst", 60, 3);
    for (let i = 0; i < 3; i++) expect(await limiter.take([bucket])).toEqual({ allowed: true });
    const retry = expectDenial(await limiter.take([bucket]), bucket, 1000, h.slackMs);
    // A denial takes nothing and so does not push the retry further out.
    expectDenial(await limiter.take([bucket]), bucket, retry, h.slackMs);
  });

  it("refills at perMinute/60 per second, up to the burst", async () => {
    const limiter = h.make();
    const bucket = spec("refill", 300, 3); // one token per 200 ms
    for (let i = 0; i < 3; i++) expect((await limiter.take([bucket])).allowed).toBe(true);
    expect((await limiter.take([bucket])).allowed).toBe(false);
    await h.advance(420); // two tokens and a little
    expect((await limiter.take([bucket])).allowed).toBe(true);
    expect((await limiter.take([bucket])).allowed).toBe(true);
    // 0.1 token left after those two takes: 180 ms to the next one.
    await h.advance(expectDenial(await limiter.take([bucket]), bucket, 180, h.slackMs) + 20);
    expect((await limiter.take([bucket])).allowed).toBe(true);
  });

  it("is all or nothing: a short bucket leaves the others untouched", async () => {
    const limiter = h.make();
    const roomy = spec("roomy", 60, 2);
    const empty = spec("empty", 60, 1);
    expect((await limiter.take([empty])).allowed).toBe(true);
    expect(await limiter.take([roomy, empty])).toMatchObject({ allowed: false, bucket: empty });
    expect((await limiter.take([roomy])).allowed).toBe(true);
    expect((await limiter.take([roomy])).allowed).toBe(true);
    expect((await limiter.take([roomy])).allowed).toBe(false);
  });

  it("names the bucket that waits longest, whatever the order", async () => {
    const limiter = h.make();
    const quick = spec("quick", 60, 1); // a token per second
    const slow = spec("slow", 20, 1); // a token per three seconds
    expect((await limiter.take([quick])).allowed).toBe(true);
    expect((await limiter.take([slow])).allowed).toBe(true);
    for (const order of [[quick, slow], [slow, quick]]) expectDenial(await limiter.take(order), slow, 3000, h.slackMs);
  });

  it("counts a key listed twice as two tokens", async () => {
    const limiter = h.make();
    const twice = spec("twice", 60, 2);
    expect((await limiter.take([twice, twice])).allowed).toBe(true);
    expect((await limiter.take([twice])).allowed).toBe(false);
    const single = spec("single", 60, 1);
    expect(await limiter.take([single, single])).toMatchObject({ allowed: false, bucket: single });
    expect((await limiter.take([single])).allowed).toBe(true);
  });

  it("allows an empty list and rejects nonsense specs with a plain Error", async () => {
    const limiter = h.make();
    expect(await limiter.take([])).toEqual({ allowed: true });
    for (const bad of [spec("zero", 0, 1), spec("nan", Number.NaN, 1), spec("small", 60, 0.5), { ...spec("k", 60, 1), key: "" }]) {
      const error = await limiter.take([bad]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(StateUnavailableError);
    }
  });

  it("refuses take after close", async () => {
    const limiter = h.make();
    await limiter.close();
    await expect(limiter.take([spec("closed", 60, 1)])).rejects.toThrow(/closed/);
  });
});

describe("MemoryRateLimiter bounds", () => {
  it("sweeps buckets that are full again, on its own timer", async () => {
    let clock = 0;
    const limiter = new MemoryRateLimiter({ now: () => clock, sweepIntervalMs: 10 });
    await limiter.take([spec("fast", 600, 1)]); // full again after 100 ms
    await limiter.take([spec("slow", 6, 1)]); // full again after 10 s
    expect(limiter.size).toBe(2);
    clock = 200;
    await waitFor(() => limiter.size < 2, "the sweep", 2_000);
    expect(limiter.size).toBe(1);
    // The survivor is the slow bucket, still empty.
    expect((await limiter.take([spec("slow", 6, 1)])).allowed).toBe(false);
    await limiter.close();
  });

  it("forgets the least recently updated bucket at the entry cap", async () => {
    const limiter = new MemoryRateLimiter({ now: () => 0, maxEntries: 3 });
    for (const key of ["k1", "k2", "k3", "k4"]) expect((await limiter.take([spec(key, 60, 1)])).allowed).toBe(true);
    expect(limiter.size).toBe(3);
    expect((await limiter.take([spec("k2", 60, 1)])).allowed).toBe(false); // still held, still empty
    expect((await limiter.take([spec("k1", 60, 1)])).allowed).toBe(true); // forgotten, so full again
    expect(limiter.size).toBe(3);
    await limiter.close();
  });
});

describe("RedisRateLimiter on a real redis-server", () => {
  let server: RunningRedis;
  let a: Redis;
  let b: Redis;
  beforeAll(async () => {
    server = await startRedis();
    a = client(server.url);
    b = client(server.url);
    await Promise.all([ready(a), ready(b)]);
  });
  afterAll(async () => {
    for (const c of clients) c.disconnect();
    await server?.stop();
  });

  it("shares buckets between limiters on separate connections (replicas)", async () => {
    const keyPrefix = `gh:${randomUUID()}:`;
    const one = new RedisRateLimiter({ redis: a, keyPrefix });
    const two = new RedisRateLimiter({ redis: b, keyPrefix });
    const bucket = spec("shared", 60, 2);
    expect((await one.take([bucket])).allowed).toBe(true);
    expect((await two.take([bucket])).allowed).toBe(true);
    expect((await one.take([bucket])).allowed).toBe(false);
    expect((await two.take([bucket])).allowed).toBe(false);
  });

  it("keeps prefixes apart, and does not close the client it was given", async () => {
    const bucket = spec("isolated", 60, 1);
    const one = new RedisRateLimiter({ redis: a, keyPrefix: `gh:${randomUUID()}:` });
    const two = new RedisRateLimiter({ redis: a, keyPrefix: `gh:${randomUUID()}:` });
    expect((await one.take([bucket])).allowed).toBe(true);
    expect((await two.take([bucket])).allowed).toBe(true);
    expect((await one.take([bucket])).allowed).toBe(false);
    // close() leaves the client it was handed alone.
    await one.close();
    expect(await a.ping()).toBe("PONG");
  });

  it("stores a hash that expires once the bucket would be full again", async () => {
    const keyPrefix = `gh:${randomUUID()}:`;
    const bucket = spec("ttl", 60, 3);
    const limiter = new RedisRateLimiter({ redis: a, keyPrefix });
    expect((await limiter.take([bucket, bucket])).allowed).toBe(true);
    const key = `${keyPrefix}rl:${bucket.key}`;
    const hash = await a.hgetall(key);
    expect(Number(hash.tokens)).toBe(1);
    expect(Number(hash.ts)).toBeGreaterThan(0);
    const pttl = await a.pttl(key);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(2000 + REDIS_EXPIRY_MARGIN_MS); // two tokens short at one per second
    // A denial writes nothing, so it cannot stretch the expiry either.
    expect((await limiter.take([bucket, bucket])).allowed).toBe(false);
    expect(await a.pttl(key)).toBeLessThanOrEqual(pttl);
  });

  it("reloads its script after the server forgets it", async () => {
    const limiter = new RedisRateLimiter({ redis: a, keyPrefix: `gh:${randomUUID()}:` });
    expect((await limiter.take([spec("flush", 60, 2)])).allowed).toBe(true);
    await a.script("FLUSH");
    expect((await limiter.take([spec("flush", 60, 2)])).allowed).toBe(true);
    expect((await limiter.take([spec("flush", 60, 2)])).allowed).toBe(false);
  });

  it("rejects with StateUnavailableError while Redis is down, and works again after it returns", async () => {
    const outage = await startRedis();
    const redis = client(outage.url);
    await ready(redis);
    const limiter = new RedisRateLimiter({ redis, keyPrefix: "gh:outage:" });
    const bucket = spec("outage", 60, 5);
    expect((await limiter.take([bucket])).allowed).toBe(true);
    await outage.stop();
    for (let i = 0; i < 3; i++) {
      const bounded = new Promise<string>((r) => setTimeout(() => r("still pending after 3 s"), 3_000).unref());
      const error = await Promise.race([limiter.take([bucket]).then(() => "allowed", (e: unknown) => e), bounded]);
      expect(error).toBeInstanceOf(StateUnavailableError);
      expect((error as Error).message).toMatch(/^rate-limit store unavailable: /);
    }
    expect(await limiter.take([])).toEqual({ allowed: true });
    await outage.restart();
    await ready(redis);
    expect((await limiter.take([bucket])).allowed).toBe(true);
    redis.disconnect();
    await outage.stop();
  });
});
