// Per-session HTTP backends against a real stateful Streamable HTTP server (the SDK's, test/fixtures/session-counter-server.ts):
// two backends standing for two replicas share one UpstreamSessionStore (a Map here; Redis in production).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnChild, waitForOutput, type Child } from "../../test/helpers/processes.ts";
import { ROOT } from "../../test/helpers/gateway.ts";
import { createBackend, type Backend, type UpstreamSession, type UpstreamSessionStore } from "./index.ts";
import { RecordingHooks, firstText } from "./testing.ts";

let server: Child;
let url: string;
const backends: Backend[] = [];

beforeAll(async () => {
  server = spawnChild(process.execPath, [`${ROOT}test/fixtures/session-counter-server.ts`]);
  url = (await waitForOutput(server, /session-counter (http:\/\/\S+)/))[1]!;
});

afterAll(async () => {
  await Promise.all(backends.map((b) => b.stop()));
  await server.stop();
});

class MapStore implements UpstreamSessionStore {
  readonly sessions = new Map<string, UpstreamSession>();
  failing = false;
  async get(client: string, server: string): Promise<UpstreamSession | undefined> {
    if (this.failing) throw new Error("Redis at 127.0.0.1:1 is unreachable");
    return this.sessions.get(`${client}/${server}`);
  }
  set(client: string, server: string, session: UpstreamSession | undefined): void {
    if (session === undefined) this.sessions.delete(`${client}/${server}`);
    else this.sessions.set(`${client}/${server}`, session);
  }
}

async function replica(store: MapStore): Promise<Backend> {
  const config = { name: "counter", transport: "http" as const, url, headers: {}, timeoutMs: 5_000, required: true, identity: "none" as const, roots: false, scope: "per-session" as const, protocol: "2025" as const };
  const backend = createBackend(config, new RecordingHooks(), { configDir: ROOT, upstreamSessions: store });
  backends.push(backend);
  await backend.start();
  return backend;
}

const count = async (backend: Backend, client: string) =>
  JSON.parse(firstText(await backend.request("tools/call", { name: "count", arguments: {} }, { owner: { sessionId: client } }))) as { session: string; count: number };
const stats = async () => (await (await fetch(url.replace(/\/mcp$/, "/stats"))).json()) as { live: string[]; deleted: string[] };

describe("per-session HTTP backends", () => {
  it("carry one client's upstream session from one replica to the next, and keep clients apart", async () => {
    const store = new MapStore();
    const [a, b] = [await replica(store), await replica(store)];
    const first = await count(a, "client-1");
    expect(store.sessions.get("client-1/counter")).toMatchObject({ sessionId: first.session, protocolVersion: expect.any(String) });
    expect(await count(b, "client-1")).toEqual({ session: first.session, count: 2 });
    const other = await count(b, "client-2");
    expect(other).toMatchObject({ count: 1 });
    expect(other.session).not.toBe(first.session);

    // Leaving a replica keeps the upstream session; the client session's end deletes it.
    a.releaseSession!("client-1", false);
    await new Promise((r) => setTimeout(r, 200));
    expect((await stats()).deleted).not.toContain(first.session);
    b.releaseSession!("client-1", true);
    await expect.poll(async () => (await stats()).deleted, { timeout: 5_000 }).toContain(first.session);
  });

  it("start a new upstream session when the stored one has expired, and store the new id", async () => {
    const store = new MapStore();
    store.set("client-3", "counter", { sessionId: "long-gone", protocolVersion: "2025-11-25" });
    const a = await replica(store);
    const fresh = await count(a, "client-3");
    expect(fresh.count).toBe(1);
    expect(fresh.session).not.toBe("long-gone");
    expect(store.sessions.get("client-3/counter")?.sessionId).toBe(fresh.session);
  });

  it("refuse rather than silently start over when the store cannot be read", async () => {
    const store = new MapStore();
    const a = await replica(store);
    store.failing = true;
    await expect(count(a, "client-4")).rejects.toMatchObject({ code: -32013, message: expect.stringMatching(/server "counter" keeps per-session state, and this session's upstream session cannot be looked up right now \(shared state unreachable\); retry shortly$/) });
    expect((await stats()).live.length).toBeGreaterThan(0);
  });
});
