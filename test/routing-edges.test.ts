/**
 * Routing edge cases through a running gateway: two servers that share a URI scheme, resources/updated fan-out
 * to subscribers only, log messages to the clients that asked, roots/list, a cancel reaching the backend, a legacy
 * SSE backend, and readiness with a required server that never comes up.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { FLAKY, NOTES, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";
import { startEverything, type RunningEverything } from "./helpers/processes.ts";
import { startScriptedHttpServer, type ScriptedHttpServer } from "./fixtures/scripted-http-server.ts";

let gw: RunningGateway;
let scripted: ScriptedHttpServer;
let sse: RunningEverything;
const clients: Client[] = [];
const open = async (name: string, capabilities: Record<string, unknown> = {}) => {
  const c = await connectClient(gw.url, name, { capabilities });
  clients.push(c);
  return c;
};
const text = (result: unknown) => JSON.stringify((result as { content?: unknown }).content);

beforeAll(async () => {
  sse = await startEverything("sse");
  scripted = await startScriptedHttpServer({ getStream: true });
  const dirA = mkdtempSync(join(tmpdir(), "gatehouse-notes-a-"));
  const dirB = mkdtempSync(join(tmpdir(), "gatehouse-notes-b-"));
  gw = await startGateway(`
servers:
  - { name: notes-a, transport: stdio, command: node, args: ["${NOTES}"], env: { NOTES_DIR: "${dirA}" } }
  - { name: notes-b, transport: stdio, command: node, args: ["${NOTES}"], env: { NOTES_DIR: "${dirB}" } }
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"], roots: true }
  - { name: legacy, transport: sse, url: "${sse.url}" }
  - { name: scripted, transport: http, url: "${scripted.url}" }
`);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await gw?.close();
  await sse?.close();
  await scripted?.stop();
});

describe("resources from servers that share a scheme", () => {
  it("a URI both servers list is qualified per server; a unique one stays as the server wrote it", async () => {
    const c = await open("resources");
    await c.callTool({ name: "notes-a__write_note", arguments: { id: "shared", text: "alpha copy" } });
    await c.callTool({ name: "notes-b__write_note", arguments: { id: "shared", text: "beta copy" } });
    await c.callTool({ name: "notes-a__write_note", arguments: { id: "only-a", text: "just alpha" } });
    const uris = await waitFor(async () => {
      const list = (await c.listResources()).resources.map((r) => r.uri);
      return list.includes("gatehouse://notes-b/notes://note/shared") && list.includes("notes://note/only-a") ? list : undefined;
    }, 10_000, "the merged resource list to reflect both servers");
    expect(uris).toContain("gatehouse://notes-a/notes://note/shared");
    expect(uris).not.toContain("notes://note/shared");

    const a = await c.readResource({ uri: "gatehouse://notes-a/notes://note/shared" });
    const b = await c.readResource({ uri: "gatehouse://notes-b/notes://note/shared" });
    expect(JSON.stringify(a.contents)).toContain("alpha copy");
    expect(JSON.stringify(b.contents)).toContain("beta copy");
    // The contents name the URI the client asked for.
    expect(b.contents[0]?.uri).toBe("gatehouse://notes-b/notes://note/shared");
    const unique = await c.readResource({ uri: "notes://note/only-a" });
    expect(JSON.stringify(unique.contents)).toContain("just alpha");
  });

  it("resources/updated reaches the subscribed client with its URI, and not the others", async () => {
    const subscriber = await open("subscriber");
    const bystander = await open("bystander");
    const updates: string[] = [];
    const strayUpdates: string[] = [];
    subscriber.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void updates.push(n.params.uri));
    bystander.setNotificationHandler(ResourceUpdatedNotificationSchema, async (n) => void strayUpdates.push(n.params.uri));
    await waitFor(() => [...gw.gateway.sessions.local.values()].filter((s) => s.hasStandaloneChannel).length >= 2 || undefined);
    await subscriber.subscribeResource({ uri: "gatehouse://notes-b/notes://note/shared" });
    await bystander.callTool({ name: "notes-b__write_note", arguments: { id: "shared", text: "beta edited" } });
    await waitFor(() => (updates.length > 0 ? true : undefined), 10_000, "resources/updated");
    expect(updates).toEqual(["gatehouse://notes-b/notes://note/shared"]);
    expect(strayUpdates).toEqual([]);
  });
});

describe("log messages and roots", () => {
  it("a log message about a call reaches only that call's client, and only at or above its level", async () => {
    const caller = await open("caller");
    const picky = await open("picky");
    const snoop = await open("snoop");
    const heard: Record<string, Array<{ level: string; logger?: string; data?: unknown }>> = { caller: [], picky: [], snoop: [] };
    for (const [name, c] of [["caller", caller], ["picky", picky], ["snoop", snoop]] as const) {
      c.setNotificationHandler(LoggingMessageNotificationSchema, async (n) => void heard[name]!.push(n.params));
    }
    await picky.setLoggingLevel("error");
    await snoop.setLoggingLevel("debug");
    await waitFor(() => [...gw.gateway.sessions.local.values()].filter((s) => s.hasStandaloneChannel).length >= 3 || undefined);
    // The Streamable HTTP backend sends an info-level log about each call on that call's response stream.
    await caller.callTool({ name: "scripted__sse-echo", arguments: { text: "first" } });
    await picky.callTool({ name: "scripted__sse-echo", arguments: { text: "second" } });
    // Over stdio the gateway cannot tell whose call a log line is about: nobody gets it, not even a debug listener.
    await caller.callTool({ name: "flaky__log", arguments: { level: "error", text: "unattributable" } });
    await new Promise((r) => setTimeout(r, 200));
    expect(heard.caller!.map((m) => m.data)).toEqual(["about first"]);
    expect(heard.caller![0]?.logger).toBe("scripted");
    expect(heard.picky).toEqual([]); // its own call's log was info, below its level
    expect(heard.snoop).toEqual([]); // set debug, but no call of its own
  });

  it("roots/list from a backend is answered by the calling client", async () => {
    const c = await open("rooted", { roots: { listChanged: true } });
    c.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///work/project", name: "project" }] }));
    const result = await c.callTool({ name: "flaky__roots", arguments: {} });
    expect(text(result)).toContain("file:///work/project");
  });
});

describe("cancellation and legacy SSE", () => {
  it("a client's cancel reaches the backend as notifications/cancelled for the backend's own request id", async () => {
    const c = await open("canceller");
    const before = JSON.parse(JSON.parse(text(await c.callTool({ name: "flaky__cancellations", arguments: {} })))[0].text) as unknown[];
    const controller = new AbortController();
    const pending = c.callTool({ name: "flaky__hang", arguments: {} }, undefined, { signal: controller.signal });
    await waitFor(() => (gw.gateway.dispatcher.inflight.size > 0 ? true : undefined), 5000, "the hang call to be in flight");
    controller.abort("no longer needed");
    await expect(pending).rejects.toThrow();
    const after = await waitFor(async () => {
      const list = JSON.parse(JSON.parse(text(await c.callTool({ name: "flaky__cancellations", arguments: {} })))[0].text) as Array<{ requestId: unknown }>;
      return list.length > before.length ? list : undefined;
    }, 5000, "the backend to record the cancellation");
    // The backend saw the gateway's upstream id, not the client's.
    expect(typeof after.at(-1)?.requestId).toBe("number");
  });

  it("a legacy HTTP+SSE backend serves calls through the gateway", async () => {
    const c = await open("legacy-user");
    const result = await c.callTool({ name: "legacy__echo", arguments: { message: "over legacy sse" } });
    expect(text(result)).toContain("over legacy sse");
  });
});

describe("readiness", () => {
  it("a required server that never starts keeps /readyz at 503 naming it, while the others serve", async () => {
    const broken = await startGateway(`
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
  - { name: broken, transport: stdio, command: node, args: ["-e", "process.exit(3)"], required: true }
`);
    try {
      const ready = await fetch(broken.url.replace("/mcp", "/readyz"));
      expect(ready.status).toBe(503);
      const body = (await ready.json()) as { reason: string };
      expect(body.reason).toContain("broken");
      const c = await connectClient(broken.url);
      const result = await c.callTool({ name: "flaky__echo", arguments: { text: "still serving" } });
      expect(text(result)).toContain("still serving");
      await c.close();
    } finally {
      await broken.close();
    }
  });
});
