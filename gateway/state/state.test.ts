/**
 * The session records and the replica bus, the same cases over MemoryState and over RedisState on a real
 * redis-server (test/helpers/redis.ts). Every Redis state gets a key prefix of its own, so tests share nothing.
 */
import { randomUUID } from "node:crypto";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type RunningRedis } from "../../test/helpers/redis.ts";
import { waitFor } from "../../test/helpers/gateway.ts";
import { StateUnavailableError } from "./errors.ts";
import { MemoryState } from "./memory.ts";
import { RedisState } from "./redis.ts";
import type { BusEnvelope, BusMessage, SessionRecord, SharedState } from "./types.ts";

const TTL = 60_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const record = (id = randomUUID()): SessionRecord => ({
  id,
  principal: "dev\u0000alice",
  protocolVersion: "2025-11-25",
  clientInfo: { name: "client", version: "1.0.0" },
  clientCapabilities: { roots: { listChanged: true } },
  createdAt: 1_700_000_000_000,
});
const reload = (revision: string): BusMessage => ({ type: "reload", what: "config", revision });

/** Rejects with what `promise` rejected with, or fails when it settles otherwise or not within `ms`. */
async function rejection(promise: Promise<unknown>, ms = 5_000): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`not settled within ${ms} ms`)), ms)));
  try {
    await Promise.race([promise, timeout]);
  } catch (error) {
    return error;
  } finally {
    clearTimeout(timer);
  }
  throw new Error("expected a rejection");
}

interface Harness {
  name: string;
  setup(): Promise<void>;
  teardown(): Promise<void>;
  /** A ready state with a keyspace of its own. */
  make(replicaId?: string): Promise<SharedState>;
}

function memoryHarness(): Harness {
  const states: SharedState[] = [];
  return {
    name: "memory",
    async setup() {},
    async teardown() {
      await Promise.all(states.map((s) => s.close()));
    },
    async make(replicaId: string = randomUUID()) {
      const state = new MemoryState(replicaId);
      states.push(state);
      return state;
    },
  };
}

const redisStates: SharedState[] = [];
async function redisState(url: string, keyPrefix: string, replicaId: string = randomUUID()): Promise<RedisState> {
  const state = new RedisState({ url, keyPrefix, replicaId });
  redisStates.push(state);
  expect(await state.ready(10_000)).toBe(true);
  return state;
}
const rawClients: Redis[] = [];
function raw(url: string): Redis {
  const client = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => 100 });
  client.on("error", () => undefined);
  rawClients.push(client);
  return client;
}

function redisHarness(): Harness & { url(): string } {
  let server: RunningRedis | undefined;
  return {
    name: "redis",
    url: () => server!.url,
    async setup() {
      server = await startRedis();
    },
    async teardown() {
      await Promise.all(redisStates.splice(0).map((s) => s.close()));
      for (const client of rawClients.splice(0)) client.disconnect();
      await server?.stop();
    },
    make: (replicaId) => redisState(server!.url, `test:${randomUUID()}:`, replicaId),
  };
}

describe.each([memoryHarness(), redisHarness()])("$name session records", (h) => {
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  it("create, then get returns the record with no stream, no log level, no backend sessions", async () => {
    const { sessions } = await h.make();
    const r = record();
    await sessions.create(r, TTL);
    expect(await sessions.get(r.id)).toEqual({ record: r, stream: undefined, logLevel: undefined, backendSessions: {} });
    expect(await sessions.get(randomUUID())).toBeUndefined();
  });

  it("touch on a live record is alive and carries the stream and log level set since", async () => {
    const { sessions } = await h.make();
    const r = record();
    await sessions.create(r, TTL);
    expect(await sessions.touch(r, TTL)).toEqual({ status: "alive", stream: undefined, logLevel: undefined });
    await sessions.setStream(r.id, "replica-a", true);
    await sessions.setLogLevel(r.id, "debug");
    await sessions.setBackendSession(r.id, "files", "up-1");
    expect(await sessions.touch(r, TTL)).toEqual({ status: "alive", stream: "replica-a", logLevel: "debug" });
    expect(await sessions.get(r.id)).toMatchObject({ stream: "replica-a", logLevel: "debug", backendSessions: { files: "up-1" } });
    await sessions.setBackendSession(r.id, "files", undefined);
    expect((await sessions.get(r.id))?.backendSessions).toEqual({});
  });

  it("closing a stream clears it only for the replica that holds it", async () => {
    const { sessions } = await h.make();
    const r = record();
    await sessions.create(r, TTL);
    await sessions.setStream(r.id, "replica-a", true);
    await sessions.setStream(r.id, "replica-b", false);
    expect((await sessions.get(r.id))?.stream).toBe("replica-a");
    await sessions.setStream(r.id, "replica-b", true);
    expect((await sessions.get(r.id))?.stream).toBe("replica-b");
    await sessions.setStream(r.id, "replica-b", false);
    expect((await sessions.get(r.id))?.stream).toBeUndefined();
  });

  it.each([
    ["never created", "restored", async () => {}],
    ["ended", "ended", async (state: SharedState, r: SessionRecord) => {
      await state.sessions.create(r, TTL);
      await state.sessions.end(r.id, TTL);
    }],
  ] as const)("field updates on a record %s create nothing (touch then says %s)", async (_, touched, prepare) => {
    const state = await h.make();
    const r = record();
    await prepare(state, r);
    await state.sessions.setLogLevel(r.id, "debug");
    await state.sessions.setStream(r.id, "replica-a", true);
    await state.sessions.setStream(r.id, "replica-a", false);
    await state.sessions.setBackendSession(r.id, "files", "up-1");
    expect(await state.sessions.get(r.id)).toBeUndefined();
    // A half-written record would make touch say alive (and carry the stray fields).
    expect(await state.sessions.touch(r, TTL)).toEqual({ status: touched });
    if (touched === "restored") expect(await state.sessions.get(r.id)).toEqual({ record: r, stream: undefined, logLevel: undefined, backendSessions: {} });
  });

  it("end removes the record and leaves a tombstone: touch says ended and does not restore it", async () => {
    const { sessions } = await h.make();
    const r = record();
    await sessions.create(r, TTL);
    await sessions.end(r.id, TTL);
    expect(await sessions.get(r.id)).toBeUndefined();
    expect(await sessions.touch(r, TTL)).toEqual({ status: "ended" });
    expect(await sessions.get(r.id)).toBeUndefined();
  });

  it.each([
    ["was never created", async () => {}],
    ["expired", async (state: SharedState, r: SessionRecord) => {
      await state.sessions.create(r, 20);
      await waitFor(async () => (await state.sessions.get(r.id)) === undefined, 5_000, "the record to expire");
    }],
  ])("touch of a record the store lost (%s) restores it", async (_, lose) => {
    const state = await h.make();
    const r = record();
    await lose(state, r);
    expect(await state.sessions.touch(r, TTL)).toEqual({ status: "restored" });
    expect(await state.sessions.get(r.id)).toEqual({ record: r, stream: undefined, logLevel: undefined, backendSessions: {} });
    expect(await state.sessions.touch(r, TTL)).toMatchObject({ status: "alive" });
  });

  it("a record expires after its TTL unless touched", async () => {
    const { sessions } = await h.make();
    const kept = record();
    const idle = record();
    await sessions.create(kept, 1_000);
    await sessions.create(idle, 50);
    expect(await sessions.get(idle.id)).toBeDefined();
    await waitFor(async () => (await sessions.get(idle.id)) === undefined, 2_000, "the idle record to expire");
    expect(await sessions.touch(kept, TTL)).toMatchObject({ status: "alive" });
    await sleep(1_100);
    expect((await sessions.get(kept.id))?.record).toEqual(kept);
  });
});

describe("memory bus", () => {
  it("delivers to itself only, and broadcasts to nobody", async () => {
    const state = new MemoryState("solo");
    expect(await state.bus.send("solo", reload("r0"))).toBe(false); // no handler yet
    const got: BusEnvelope[] = [];
    state.bus.onMessage((m) => got.push(m));
    expect(await state.bus.send("solo", reload("r1"))).toBe(true);
    expect(await state.bus.send("someone-else", reload("r2"))).toBe(false);
    await expect(state.bus.broadcast(reload("r3"))).resolves.toBeUndefined();
    expect(got).toEqual([{ ...reload("r1"), from: "solo" }]);
    await state.close();
  });
});

describe("redis", () => {
  const h = redisHarness();
  beforeAll(() => h.setup());
  afterAll(() => h.teardown());

  it("session keys carry the TTL; touch renews it; tombstones expire too", async () => {
    const prefix = `test:${randomUUID()}:`;
    const { sessions } = await redisState(h.url(), prefix);
    const client = raw(h.url());
    const r = record();
    await sessions.create(r, 10_000);
    const pttl = await client.pttl(`${prefix}session:{${r.id}}`);
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(10_000);
    await sessions.touch(r, TTL);
    expect(await client.pttl(`${prefix}session:{${r.id}}`)).toBeGreaterThan(10_000);
    await sessions.end(r.id, 5_000);
    expect(await client.exists(`${prefix}session:{${r.id}}`)).toBe(0);
    const tombstone = await client.pttl(`${prefix}ended:{${r.id}}`);
    expect(tombstone).toBeGreaterThan(0);
    expect(tombstone).toBeLessThanOrEqual(5_000);
  });

  it("touch restores a record deleted behind its back", async () => {
    const prefix = `test:${randomUUID()}:`;
    const { sessions } = await redisState(h.url(), prefix);
    const r = record();
    await sessions.create(r, TTL);
    await sessions.setStream(r.id, "replica-a", true);
    expect(await raw(h.url()).del(`${prefix}session:{${r.id}}`)).toBe(1);
    expect(await sessions.get(r.id)).toBeUndefined();
    expect(await sessions.touch(r, TTL)).toEqual({ status: "restored" });
    expect(await sessions.get(r.id)).toEqual({ record: r, stream: undefined, logLevel: undefined, backendSessions: {} });
  });

  it("bus: directed to one replica, broadcast to the others, nothing across prefixes", async () => {
    const prefix = `test:${randomUUID()}:`;
    const a = await redisState(h.url(), prefix, "replica-a");
    const b = await redisState(h.url(), prefix, "replica-b");
    // Same replica id as b, another prefix: it must hear nothing of a's and b's.
    const otherPrefix = `test:${randomUUID()}:`;
    const c = await redisState(h.url(), otherPrefix, "replica-b");
    const inbox = { a: [] as BusEnvelope[], b: [] as BusEnvelope[], c: [] as BusEnvelope[] };
    a.bus.onMessage((m) => inbox.a.push(m));
    b.bus.onMessage((m) => inbox.b.push(m));
    c.bus.onMessage((m) => inbox.c.push(m));
    // Subscriptions go live a little after the connection: poll until b and c listen.
    await waitFor(() => a.bus.send("replica-b", reload("hello")), 5_000, "b to subscribe");
    await waitFor(() => inbox.b.length > 0, 5_000, "b to get the first message");
    const client = raw(h.url());
    const toC = (revision: string) => client.publish(`${otherPrefix}broadcast`, JSON.stringify({ ...reload(revision), from: "raw" }));
    await waitFor(async () => (await toC("c-hello")) > 0, 5_000, "c to subscribe");
    await waitFor(() => inbox.c.length > 0, 5_000, "c to get the first message");
    inbox.b.length = 0;
    inbox.c.length = 0;

    expect(await a.bus.send("replica-b", reload("direct"))).toBe(true);
    await waitFor(() => inbox.b.length > 0, 5_000, "b to get the directed message");
    expect(inbox.b).toEqual([{ ...reload("direct"), from: "replica-a" }]);
    expect(await a.bus.send("replica-nobody", reload("lost"))).toBe(false);

    await a.bus.broadcast(reload("all"));
    await waitFor(() => inbox.b.length > 1, 5_000, "b to get the broadcast");
    expect(inbox.b[1]).toEqual({ ...reload("all"), from: "replica-a" });
    // Pub/sub keeps order per connection: once a hears b's later message, it has seen (and dropped) its own broadcast.
    await waitFor(() => b.bus.send("replica-a", reload("barrier")), 5_000, "a to subscribe");
    await waitFor(() => inbox.a.length > 0, 5_000, "a to get b's message");
    expect(inbox.a).toEqual([{ ...reload("barrier"), from: "replica-b" }]);
    // Same barrier for c, on its own prefix: nothing of a's arrived before it.
    expect(await toC("c-barrier")).toBe(1);
    await waitFor(() => inbox.c.length > 0, 5_000, "c to get the barrier");
    expect(inbox.c).toEqual([{ ...reload("c-barrier"), from: "raw" }]);
  });
});

describe("redis outage", () => {
  let outage: RunningRedis;
  const states: SharedState[] = [];
  beforeAll(async () => {
    outage = await startRedis();
  });
  afterAll(async () => {
    await Promise.all(states.map((s) => s.close()));
    await outage.stop();
  });

  it("fails fast with StateUnavailableError while Redis is down, and recovers when it returns", async () => {
    const state = new RedisState({ url: outage.url, keyPrefix: `test:${randomUUID()}:`, replicaId: "replica-a" });
    states.push(state);
    expect(await state.ready(10_000)).toBe(true);
    expect(state.unavailable()).toBeUndefined();
    const r = record();
    await state.sessions.create(r, TTL);

    await outage.stop();
    const why = await waitFor(() => state.unavailable(), 10_000, "the state to notice the outage");
    expect(why).toContain(`127.0.0.1:${outage.port}`);
    for (const attempt of [state.sessions.get(r.id), state.sessions.create(record(), TTL), state.bus.send("replica-b", reload("x"))]) {
      const error = await rejection(attempt);
      expect(error).toBeInstanceOf(StateUnavailableError);
      expect((error as Error).message).toContain(`127.0.0.1:${outage.port}`);
    }

    await outage.restart();
    expect(await state.ready(10_000)).toBe(true);
    expect(state.unavailable()).toBeUndefined();
    // The restarted server is empty; the state works again.
    expect(await state.sessions.get(r.id)).toBeUndefined();
    await state.sessions.create(r, TTL);
    expect((await state.sessions.get(r.id))?.record).toEqual(r);
  });
});

describe("redis down when the replicas start", () => {
  it("the bus comes up once Redis does, even after longer than a client's retry budget (about 18 s of reconnects)", async () => {
    const late = await startRedis();
    await late.stop();
    const prefix = `test:${randomUUID()}:`;
    const a = new RedisState({ url: late.url, keyPrefix: prefix, replicaId: "replica-a" });
    const b = new RedisState({ url: late.url, keyPrefix: prefix, replicaId: "replica-b" });
    const heard: BusEnvelope[] = [];
    b.bus.onMessage((m) => heard.push(m));
    try {
      expect(a.unavailable()).toContain(`127.0.0.1:${late.port}`);
      await new Promise((r) => setTimeout(r, 22_000));
      await late.restart();
      expect(await a.ready(15_000)).toBe(true);
      expect(await b.ready(15_000)).toBe(true);
      await waitFor(async () => (await a.bus.send("replica-b", reload("late"))) || undefined, 10_000, "replica-b to listen");
      await waitFor(() => heard.some((m) => m.type === "reload" && m.revision === "late" && m.from === "replica-a") || undefined, 5_000, "the message at replica-b");
    } finally {
      await Promise.all([a.close(), b.close()]);
      await late.stop();
    }
  }, 60_000);
});
