/**
 * Two real `gatehouse serve` processes sharing a real redis-server, and SDK clients steered between them the way a
 * Service without sticky sessions would spread their requests.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateMessageRequestSchema, ResourceUpdatedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { FLAKY, NOTES, ROOT, waitFor } from "./helpers/gateway.ts";
import { spawnChild, waitForOutput, type Child } from "./helpers/processes.ts";
import { startRedis, type RunningRedis } from "./helpers/redis.ts";
import { IDENTITY_YAML, mintToken, startReplica, steeredClient, type Replica } from "./helpers/replicas.ts";

let redis: RunningRedis;
let inspector: Redis;
let a: Replica;
let b: Replica;
let counter: { url: string; child: Child };
const clients: Client[] = [];
const text = (result: unknown) => JSON.stringify((result as { content?: unknown }).content);
const notesDir = mkdtempSync(path.join(tmpdir(), "gatehouse-scale-notes-"));

const replicaYaml = (onStoreError: "open" | "closed") => `
listen: { host: 127.0.0.1, port: 0 }
dataDir: "\${REPLICA_DIR}/data"
${IDENTITY_YAML}
audit: { dir: "\${REPLICA_DIR}/audit", replica: "\${REPLICA}" }
state: { store: redis, redis: { url: "${redis.url}", keyPrefix: "scale:" } }
rateLimits: { perAgentTool: { perMinute: 5, burst: 5 }, onStoreError: ${onStoreError} }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
  - { name: notes, transport: stdio, command: node, args: ["${NOTES}"], env: { NOTES_DIR: "${notesDir}" } }
  - { name: counter, transport: http, url: "${counter.url}", scope: per-session }
`;

/** The per-session server's {session, count} for this client's call. */
async function count(client: Client): Promise<{ session: string; count: number }> {
  const result = await client.callTool({ name: "counter__count", arguments: {} });
  return JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as { session: string; count: number };
}

async function counterStats(): Promise<{ live: string[]; deleted: string[] }> {
  return (await (await fetch(counter.url.replace(/\/mcp$/, "/stats"))).json()) as { live: string[]; deleted: string[] };
}

/** The replica (by name) whose GET stream the shared record says holds the session. */
async function streamHolder(sessionId: string): Promise<string | undefined> {
  const holder = await inspector.hget(`scale:session:{${sessionId}}`, "stream");
  return holder === null ? undefined : holder.replace(/-[0-9a-f]{8}$/, "");
}

/** A raw JSON-RPC POST (for what the SDK client cannot show: statuses, Accept without SSE). */
async function rawPost(url: string, agent: string, body: unknown, sessionId?: string, accept = "application/json, text/event-stream") {
  const headers: Record<string, string> = { authorization: `Bearer ${await mintToken(agent)}`, "content-type": "application/json", accept, "mcp-protocol-version": "2025-11-25" };
  if (sessionId !== undefined) headers["mcp-session-id"] = sessionId;
  const response = await fetch(url, { method: "POST", headers, body: JSON.stringify(body) });
  return { status: response.status, retryAfter: response.headers.get("retry-after"), body: (await response.json()) as { result?: Record<string, unknown>; error?: { code: number; message: string; data?: { retryAfterMs?: number } } } };
}

const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };

beforeAll(async () => {
  const counterChild = spawnChild(process.execPath, [`${ROOT}test/fixtures/session-counter-server.ts`]);
  counter = { url: (await waitForOutput(counterChild, /session-counter (http:\/\/\S+)/))[1]!, child: counterChild };
  redis = await startRedis();
  inspector = new Redis(redis.url, { maxRetriesPerRequest: 1, retryStrategy: () => 200 });
  inspector.on("error", () => {});
  [a, b] = await Promise.all([startReplica("replica-a", replicaYaml("open")), startReplica("replica-b", replicaYaml("closed"))]);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await Promise.all([a?.child.stop(), b?.child.stop(), counter?.child.stop()]);
  inspector?.disconnect();
  await redis?.stop();
});

describe("two replicas sharing Redis", () => {
  it("a session initialized on A carries on with calls, a sampling round trip and notifications on B", async () => {
    const target = { post: a.url };
    // The GET stream and the client's answers stay on A; its requests move to B.
    const { client, transport } = await steeredClient((o) => (o.method === "GET" || o.kind === "response" ? a.url : target.post), "alice", "alice", { capabilities: { sampling: {} } });
    clients.push(client);
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: "assistant", content: { type: "text", text: "sampled for alice" }, model: "test" }));
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void updates.push(n.params.uri));
    const sessionId = transport.sessionId!;
    await waitFor(async () => (await streamHolder(sessionId)) === "replica-a" || undefined, 10_000, "the GET stream on A");

    target.post = b.url;
    expect(text(await client.callTool({ name: "flaky__echo", arguments: { text: "served by B" } }))).toContain("served by B");
    // B's backend asks the client; the request rides B's response stream, the answer is POSTed to A, which relays it.
    expect(text(await client.callTool({ name: "flaky__sample", arguments: { prompt: "who?" } }))).toContain("sampled for alice");
    // With a JSON-only POST, B has no stream of its own: the request crosses to A's GET stream and the answer back.
    const jsonOnly = await rawPost(b.url, "alice", { jsonrpc: "2.0", id: 77, method: "tools/call", params: { name: "flaky__sample", arguments: { prompt: "again" } } }, sessionId, "application/json");
    expect(jsonOnly.status).toBe(200);
    expect(JSON.stringify(jsonOnly.body.result)).toContain("sampled for alice");
    // Subscribed on B, updated on B: the notification reaches the client on A's GET stream, the only one it has.
    await client.subscribeResource({ uri: "notes://note/scaled" });
    await client.callTool({ name: "notes__write_note", arguments: { id: "scaled", text: "written through B" } });
    await waitFor(() => updates.includes("notes://note/scaled") || undefined, 10_000, "resources/updated relayed to A's stream");
    // Another agent presenting the session id gets 404 on either replica.
    for (const url of [a.url, b.url]) expect((await rawPost(url, "mallory", { jsonrpc: "2.0", id: 2, method: "tools/list" }, sessionId)).status).toBe(404);

    // DELETE on B ends it on A too.
    await client.transport?.close();
    const ended = await fetch(b.url, { method: "DELETE", headers: { authorization: `Bearer ${await mintToken("alice")}`, "mcp-session-id": sessionId } });
    expect(ended.status).toBe(200);
    await waitFor(async () => (await rawPost(a.url, "alice", { jsonrpc: "2.0", id: 3, method: "tools/list" }, sessionId)).status === 404 || undefined, 5_000, "A to forget the ended session");
  });

  it("a per-session HTTP server keeps one upstream session per client, whichever replica serves it; only the client's DELETE ends it", async () => {
    const target = { all: a.url };
    const first = await steeredClient(() => target.all, "hana", "hana");
    const second = await steeredClient(() => b.url, "ivan", "ivan");
    clients.push(first.client, second.client);
    const started = await count(first.client);
    expect(started.count).toBe(1);
    target.all = b.url;
    expect(await count(first.client)).toEqual({ session: started.session, count: 2 });
    const other = await count(second.client);
    expect(other.session).not.toBe(started.session);
    expect(other.count).toBe(1);

    // A third replica serves hana, then shuts down gracefully (a rolling update): the upstream session survives it.
    const c = await startReplica("replica-c", replicaYaml("open"));
    target.all = c.url;
    expect(await count(first.client)).toEqual({ session: started.session, count: 3 });
    await c.child.stop("SIGTERM");
    expect((await counterStats()).deleted).not.toContain(started.session);
    target.all = a.url;
    expect(await count(first.client)).toEqual({ session: started.session, count: 4 });

    // Ending the client session (on B) ends its upstream session; ivan's is untouched.
    const ended = await fetch(b.url, { method: "DELETE", headers: { authorization: `Bearer ${await mintToken("hana")}`, "mcp-session-id": first.transport.sessionId! } });
    expect(ended.status).toBe(200);
    await waitFor(async () => (await counterStats()).deleted.includes(started.session) || undefined, 10_000, "the upstream session to be deleted");
    expect((await counterStats()).live).toContain(other.session);
  });

  it("rate limits are shared: the bucket an agent drains on A is empty on B", async () => {
    let next = 0;
    const { client } = await steeredClient(() => [a.url, b.url][next++ % 2]!, "bob", "bob");
    clients.push(client);
    for (let i = 0; i < 5; i++) await client.callTool({ name: "flaky__echo", arguments: { text: `call ${i}` } });
    for (let i = 0; i < 2; i++) {
      const refused = await client.callTool({ name: "flaky__echo", arguments: { text: "one too many" } }).then(
        () => undefined,
        (error: { code?: number; message: string; data?: { retryAfterMs?: number; limit?: string } }) => error,
      );
      expect(refused?.code).toBe(-31029);
      expect(refused?.message).toMatch(/Rate limit exceeded: perAgentTool allows 5 per minute \(burst 5\) for tool echo on flaky; retry in/);
      expect(refused?.data?.limit).toBe("perAgentTool");
      expect(refused?.data?.retryAfterMs).toBeGreaterThan(1_000);
    }
    // Another tool, and another agent, have buckets of their own.
    expect(text(await client.callTool({ name: "notes__write_note", arguments: { id: "bob", text: "still fine" } }))).toMatch(/bob/);
    const other = await steeredClient(() => b.url, "bob-two", "bob-two");
    clients.push(other.client);
    expect(text(await other.client.callTool({ name: "flaky__echo", arguments: { text: "mine" } }))).toContain("mine");
  });

  it("Redis stopped: local sessions go on, shared-state requests get 503, rate limits fail as configured; restarted: all recovers", async () => {
    const onA = await steeredClient(() => a.url, "dave", "dave");
    const onB = await steeredClient(() => b.url, "erin", "erin");
    clients.push(onA.client, onB.client);
    const daveSession = onA.transport.sessionId!;
    await redis.stop();
    await waitFor(async () => (await rawPost(a.url, "frank", initialize)).status === 503 || undefined, 10_000, "A to notice the outage");

    // A (rate limits fail open) serves the session it holds; B (fail closed) refuses calls it cannot count.
    expect(text(await onA.client.callTool({ name: "flaky__echo", arguments: { text: "during the outage" } }))).toContain("during the outage");
    const closed = await onB.client.callTool({ name: "flaky__echo", arguments: { text: "x" } }).then(() => undefined, (error: { code?: number; message: string }) => error);
    expect(closed?.code).toBe(-32013);
    expect(closed?.message).toMatch(/Rate limits cannot be checked right now \(rateLimits\.onStoreError: closed\); retry shortly/);
    // Listing needs no shared state: B still answers erin.
    expect((await onB.client.listTools()).tools.length).toBeGreaterThan(0);

    const fresh = await rawPost(a.url, "frank", initialize);
    expect(fresh.status).toBe(503);
    expect(fresh.body.error?.code).toBe(-32013);
    expect(fresh.body.error?.message).toBe("Service Unavailable: shared session state is unreachable, so a new session cannot be started; retry shortly");
    expect(fresh.retryAfter).toBe("1");
    const elsewhere = await rawPost(b.url, "dave", { jsonrpc: "2.0", id: 5, method: "tools/list" }, daveSession);
    expect(elsewhere.status).toBe(503);
    expect(elsewhere.body.error?.message).toBe("Service Unavailable: shared session state is unreachable, so this replica cannot find the session; retry shortly");
    expect(a.child.process.exitCode).toBeNull();
    expect(b.child.process.exitCode).toBeNull();

    await redis.restart();
    await waitFor(async () => (await rawPost(a.url, "frank", initialize)).status === 200 || undefined, 15_000, "A to reconnect");
    await waitFor(async () => (await rawPost(b.url, "frank", initialize)).status === 200 || undefined, 15_000, "B to reconnect");
    expect(text(await onB.client.callTool({ name: "flaky__echo", arguments: { text: "counted again" } }))).toContain("counted again");
    // Redis came back empty: A's next touch of dave's session restores the record, and then B can serve it too.
    await waitFor(async () => {
      await onA.client.callTool({ name: "notes__read_note", arguments: { id: "bob" } }).catch(() => undefined);
      return (await rawPost(b.url, "dave", { jsonrpc: "2.0", id: 6, method: "tools/list" }, daveSession)).status === 200 || undefined;
    }, 15_000, "dave's session to be restored and served by B");
    const newcomer = await steeredClient(() => b.url, "gina", "gina");
    clients.push(newcomer.client);
    expect((await newcomer.client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it("kill -9 of A: the client carries on on B with the same session id, and its new GET stream is B's", async () => {
    const target = { all: a.url };
    const { client, transport } = await steeredClient(() => target.all, "carol", "carol");
    clients.push(client);
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void updates.push(n.params.uri));
    const sessionId = transport.sessionId!;
    await waitFor(async () => (await streamHolder(sessionId)) === "replica-a" || undefined, 10_000, "the GET stream on A");
    const upstream = await count(client);

    a.child.process.kill("SIGKILL");
    await waitFor(() => a.child.process.exitCode !== null || a.child.process.signalCode !== null || undefined, 5_000, "A to die");
    target.all = b.url;
    expect(text(await client.callTool({ name: "flaky__echo", arguments: { text: "after A died" } }))).toContain("after A died");
    expect(transport.sessionId).toBe(sessionId);
    expect(await count(client)).toEqual({ session: upstream.session, count: 2 });
    // The SDK reopens its broken GET stream; it lands on B, which takes the stream over.
    await waitFor(async () => (await streamHolder(sessionId)) === "replica-b" || undefined, 15_000, "the GET stream to move to B");
    await client.subscribeResource({ uri: "notes://note/after-kill" });
    await client.callTool({ name: "notes__write_note", arguments: { id: "after-kill", text: "B alone" } });
    await waitFor(() => updates.includes("notes://note/after-kill") || undefined, 10_000, "resources/updated on B's stream");
  });
});
