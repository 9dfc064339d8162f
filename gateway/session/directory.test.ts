/**
 * SessionDirectory as two replicas in one process: two RedisStates on one redis-server (same prefix, different
 * replica ids), each under its own directory. Plus the single-replica directory over MemoryState.
 */
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startRedis, type RunningRedis } from "../../test/helpers/redis.ts";
import { waitFor } from "../../test/helpers/gateway.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { JsonRpcId, JsonRpcMessage } from "../protocol/index.ts";
import { MemoryState, RedisState, StateUnavailableError, type SharedState } from "../state/index.ts";
import { SessionDirectory } from "./directory.ts";
import { ClientSession, type OutboundChannel } from "./session.ts";

const identity = (subject: string): AgentIdentity => ({
  agentId: subject,
  issuer: "dev",
  subject,
  scopes: ["tools:call"],
  claims: { sub: subject },
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
});
const alice = identity("alice");
const mallory = identity("mallory");
const note = (n: number): JsonRpcMessage => ({ jsonrpc: "2.0", method: "notifications/message", params: { level: "info", data: n } });

interface Channel extends OutboundChannel {
  sent: JsonRpcMessage[];
  closed: boolean;
}
function channel(): Channel {
  const c: Channel = {
    sent: [],
    closed: false,
    send: (message) => !c.closed && c.sent.push(message) > 0,
    close: () => void (c.closed = true),
  };
  return c;
}

/** A directory and what its callbacks saw. */
interface Replica {
  directory: SessionDirectory;
  state: SharedState;
  removed: Array<[string, boolean]>;
  cancels: Array<[string, JsonRpcId, string]>;
  reloads: Array<[string, string | undefined]>;
}
function replica(state: SharedState): Replica {
  const r: Replica = { state, removed: [], cancels: [], reloads: [], directory: undefined as unknown as SessionDirectory };
  r.directory = new SessionDirectory({
    state,
    idleTimeoutMs: 60_000,
    onRemove: (session, ended) => r.removed.push([session.id, ended]),
    onCancel: (...args) => r.cancels.push(args),
    onPeerReload: (...args) => r.reloads.push(args),
  });
  return r;
}
async function close(...replicas: Replica[]): Promise<void> {
  for (const r of replicas) r.directory.close();
  await Promise.all(replicas.map((r) => r.state.close()));
}

/** Two replicas on one prefix, each subscribed (a directed message from the other reaches it). */
async function pair(url: string): Promise<[Replica, Replica]> {
  const prefix = `test:${randomUUID()}:`;
  const a = replica(new RedisState({ url, keyPrefix: prefix, replicaId: "replica-a" }));
  const b = replica(new RedisState({ url, keyPrefix: prefix, replicaId: "replica-b" }));
  for (const [from, to] of [[a, b], [b, a]] as const) {
    expect(await from.state.ready(10_000)).toBe(true);
    // A deliver for no session is dropped by the receiver: a harmless probe for a live subscription.
    await waitFor(() => from.state.bus.send(to.state.replicaId, { type: "deliver", session: "probe", message: note(0) }), 5_000, "subscription");
  }
  return [a, b];
}

async function created(r: Replica, who = alice): Promise<ClientSession> {
  const session = new ClientSession({ protocolVersion: "2025-06-18", identity: who, clientInfo: { name: "agent", version: "2.0.0" }, clientCapabilities: { sampling: {} }, replicaId: r.state.replicaId });
  await r.directory.create(session);
  return session;
}

describe("two replicas over Redis", () => {
  let redis: RunningRedis;
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(() => redis.stop());
  beforeEach(async () => {
    [a, b] = await pair(redis.url);
  });
  afterEach(() => close(a, b));

  it("a session created on one replica resolves on the other for its owner only", async () => {
    const session = await created(a);
    expect(await b.directory.resolve(session.id, mallory)).toBeUndefined();
    const copy = await b.directory.resolve(session.id, alice);
    expect(copy).toBeDefined();
    expect(copy).not.toBe(session);
    expect(copy).toMatchObject({ id: session.id, protocolVersion: "2025-06-18", clientInfo: { name: "agent", version: "2.0.0" }, clientCapabilities: { sampling: {} }, replicaId: "replica-b" });
    // The copy is kept: the next request finds the same object, and still refuses someone else.
    expect(await b.directory.resolve(session.id, alice)).toBe(copy);
    expect(await b.directory.resolve(session.id, mallory)).toBeUndefined();
    expect(await b.directory.resolve(randomUUID(), alice)).toBeUndefined();
  });

  it("ending on one replica ends the copy on the other", async () => {
    const session = await created(a);
    const copy = await b.directory.resolve(session.id, alice);
    await a.directory.end(session);
    expect(a.removed).toEqual([[session.id, true]]);
    await waitFor(() => b.removed.length > 0, 5_000, "b to drop its copy");
    expect(b.removed).toEqual([[session.id, true]]);
    expect(copy?.isClosed).toBe(true);
    expect(await b.directory.resolve(session.id, alice)).toBeUndefined();
    expect(await a.directory.resolve(session.id, alice)).toBeUndefined();
  });

  it("idle here, or this replica shutting down, is not the end: the session lives on at the other replica", async () => {
    const session = await created(a);
    const copy = (await b.directory.resolve(session.id, alice))!;
    expect(b.directory.local.reapIdle(60_000, Date.now() + 60_001)).toBe(1);
    expect(b.removed).toEqual([[copy.id, false]]);
    a.directory.close();
    expect(a.removed).toEqual([[session.id, false]]);
    expect(await b.directory.resolve(session.id, alice)).toBeDefined();
  });

  it("the GET stream's replica gets the other's messages, and a stream opened elsewhere takes it over", async () => {
    const session = await created(a);
    const onA = channel();
    expect(session.attachStandalone(onA)).toBe(true);
    a.directory.streamOpened(session);
    await waitFor(async () => (await a.state.sessions.get(session.id))?.stream === "replica-a", 5_000, "the stream to be recorded");

    const copy = (await b.directory.resolve(session.id, alice))!;
    expect(copy.sendStandalone(note(1))).toBe(true);
    await waitFor(() => onA.sent.length > 0, 5_000, "a's stream to get b's message");
    expect(onA.sent).toEqual([note(1)]);

    const onB = channel();
    expect(copy.attachStandalone(onB)).toBe(true);
    b.directory.streamOpened(copy);
    await waitFor(() => onA.closed, 5_000, "a's stream to close");
    expect(session.hasStandaloneChannel).toBe(false);
    expect(session.sendStandalone(note(2))).toBe(true);
    await waitFor(() => onB.sent.length > 0, 5_000, "b's stream to get a's message");
    expect(onB.sent).toEqual([note(2)]);
    expect(onA.sent).toEqual([note(1)]);
    expect((await a.state.sessions.get(session.id))?.stream).toBe("replica-b");
  });

  it("a client's answer POSTed to one replica settles the request the other sent", async () => {
    const session = await created(a);
    const copy = (await b.directory.resolve(session.id, alice))!;
    const asked: JsonRpcMessage[] = [];
    const answer = copy.requestClient("sampling/createMessage", { maxTokens: 5 }, (m) => asked.push(m) > 0, new AbortController().signal);
    expect(asked).toHaveLength(1);
    const id = (asked[0] as { id: string }).id;
    expect(id).toMatch(/^gatehouse:\d+:replica-b$/);
    expect(a.directory.routeClientResponse(session, { jsonrpc: "2.0", id, result: { content: "hi" } })).toBe(true);
    await expect(answer).resolves.toEqual({ content: "hi" });
    // An id naming this replica, or no replica, that nobody here asked: not routed.
    expect(a.directory.routeClientResponse(session, { jsonrpc: "2.0", id: "gatehouse:99:replica-a", result: {} })).toBe(false);
    expect(a.directory.routeClientResponse(session, { jsonrpc: "2.0", id: 7, result: {} })).toBe(false);
  });

  it("cancellations and reloads reach the other replica, never the one that sent them", async () => {
    const session = await created(a);
    a.directory.relayCancel(session, "req-1", "user gave up");
    a.directory.announceReload("config", "rev-7");
    await waitFor(() => b.reloads.length > 0, 5_000, "b to hear the reload");
    expect(b.cancels).toEqual([[session.id, "req-1", "user gave up"]]);
    expect(b.reloads).toEqual([["config", "rev-7"]]);
    // Pub/sub keeps order: once a hears b's later broadcast, it has had (and dropped) its own two.
    b.directory.announceReload("policy", "rev-8");
    await waitFor(() => a.reloads.length > 0, 5_000, "a to hear b's reload");
    expect(a.reloads).toEqual([["policy", "rev-8"]]);
    expect(a.cancels).toEqual([]);
    expect(b.reloads).toEqual([["config", "rev-7"]]);
  });
});

describe("Redis outage", () => {
  let redis: RunningRedis;
  let a: Replica;
  let b: Replica;
  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await pair(redis.url);
  });
  afterAll(async () => {
    await close(a, b);
    await redis.stop();
  });

  it("resolve fails with StateUnavailableError unless the session is held here; create refuses", async () => {
    const session = await created(a);
    await redis.stop();
    await waitFor(() => a.directory.unavailable() !== undefined && b.directory.unavailable() !== undefined, 10_000, "both to notice the outage");
    await expect(b.directory.resolve(session.id, alice)).rejects.toBeInstanceOf(StateUnavailableError);
    expect(await a.directory.resolve(session.id, alice)).toBe(session);
    expect(await a.directory.resolve(session.id, mallory)).toBeUndefined();
    const fresh = new ClientSession({ protocolVersion: "2025-06-18", identity: alice, replicaId: a.state.replicaId });
    await expect(a.directory.create(fresh)).rejects.toBeInstanceOf(StateUnavailableError);
    expect(a.directory.local.get(fresh.id)).toBeUndefined();
  });
});

describe("one replica over memory", () => {
  it("an idle-reaped session is gone from the records too", async () => {
    const m = replica(new MemoryState("solo"));
    try {
      const session = await created(m);
      const kept = await created(m);
      expect(await m.directory.resolve(session.id, alice)).toBe(session);
      expect(await m.directory.resolve(session.id, mallory)).toBeUndefined();
      kept.lastSeenAt = Date.now() + 60_000; // not idle at the reap below
      expect(m.directory.local.reapIdle(60_000, Date.now() + 60_001)).toBe(1);
      // With one replica, reaped here is ended everywhere.
      expect(m.removed).toEqual([[session.id, true]]);
      expect(await m.state.sessions.get(session.id)).toBeUndefined();
      expect(await m.directory.resolve(session.id, alice)).toBeUndefined();
      expect(await m.directory.resolve(kept.id, alice)).toBe(kept);
      expect(await m.state.sessions.get(kept.id)).toBeDefined();
    } finally {
      await close(m);
    }
  });
});
