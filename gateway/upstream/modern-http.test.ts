// A 2026-07-28 (stateless) backend behind the 2025-style peer: test/fixtures/modern-server.ts as a real process.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, JsonRpcError, type JsonObject } from "../protocol/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import { startScriptedHttpServer } from "../../test/fixtures/scripted-http-server.ts";
import { startModernServer } from "../../test/helpers/processes.ts";
import { createBackend, type Backend } from "./index.ts";
import { probeModern } from "./transports.ts";
import { RecordingHooks, defaultAnswer, firstText, waitFor } from "./testing.ts";

const VERSION = "2026-07-28";
const PV = "io.modelcontextprotocol/protocolVersion";
const CAPS = "io.modelcontextprotocol/clientCapabilities";

type Fixture = Awaited<ReturnType<typeof startModernServer>>;
const startFixture = startModernServer;

function modernConfig(url: string, extra: Partial<HttpServerConfig> = {}): HttpServerConfig {
  const config = { name: "modern", transport: "http", url, headers: { "X-Team": "blue" }, timeoutMs: 5_000, required: true, identity: "none", roots: false, scope: "shared", protocol: VERSION, ...extra };
  return config as HttpServerConfig;
}

function backendFor(url: string, hooks: RecordingHooks): Backend {
  return createBackend(modernConfig(url), hooks, { configDir: process.cwd(), clientInfo: { name: "gatehouse-test", version: "9.9.9" }, backoff: { baseMs: 20, capMs: 100 } });
}

interface Seen {
  headers: Record<string, string>;
  meta: JsonObject;
  params: JsonObject;
}
interface Stats {
  cancelled: number;
  listensOpened: number;
  listensOpen: number;
  calls: Record<string, number>;
  last: Record<string, Seen>;
}

async function statsOf(backend: Backend): Promise<Stats> {
  return (await backend.request("tools/call", { name: "stats", arguments: {} })).structuredContent as Stats;
}

async function rejection(promise: Promise<unknown>): Promise<JsonRpcError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(JsonRpcError);
  return error as JsonRpcError;
}

const call = (backend: Backend, name: string, args: JsonObject = {}, options: Parameters<Backend["request"]>[2] = {}) =>
  backend.request("tools/call", { name, arguments: args }, options);

describe("a 2026-07-28 backend over HTTP", () => {
  let fixture: Fixture;
  let hooks: RecordingHooks;
  let backend: Backend;

  beforeAll(async () => {
    fixture = await startFixture();
    hooks = new RecordingHooks();
    backend = backendFor(fixture.url, hooks);
    await backend.start();
  });

  afterAll(async () => {
    await backend?.stop();
    await fixture?.stop();
  });

  it("starts with server/discover, never initialize, and fetches the catalog with per-request _meta", async () => {
    expect(backend.state).toBe("ready");
    expect(backend.protocolVersion).toBe(VERSION);
    expect(backend.serverInfo).toEqual({ name: "modern-fixture", version: "1.0.0" });
    expect(backend.instructions).toBe("A 2026-07-28 test fixture.");
    expect(backend.capabilities).toEqual({ tools: { listChanged: true }, resources: { subscribe: true, listChanged: true } });
    const tools = backend.catalog.tools.map((tool) => tool.name);
    expect(tools).toEqual(expect.arrayContaining(["echo", "slow", "stats", "confirm", "ask_model", "add_tool", "set_note"]));
    // Its x-mcp-header sits on a number: HTTP clients must leave such a tool out.
    expect(tools).not.toContain("bad_header");
    expect(backend.catalog.tools.find((tool) => tool.name === "echo")).not.toHaveProperty("resultType");
    expect(backend.catalog.resources.map((resource) => resource.uri)).toEqual(["memo://note"]);
    expect(hooks.catalogChanges[0]).toEqual(expect.arrayContaining(["tools", "resources"]));

    const stats = await statsOf(backend);
    expect(Object.keys(stats.calls)).not.toContain("initialize");
    const discover = stats.last["server/discover"]!;
    expect(discover.headers).toMatchObject({
      "mcp-protocol-version": VERSION,
      "mcp-method": "server/discover",
      accept: "application/json, text/event-stream",
      "content-type": "application/json",
      "x-team": "blue",
    });
    expect(discover.meta[PV]).toBe(VERSION);
    const list = stats.last["tools/list"]!;
    expect(list.headers["mcp-method"]).toBe("tools/list");
    expect(list.meta["io.modelcontextprotocol/clientInfo"]).toEqual({ name: "gatehouse-test", version: "9.9.9" });
    expect(list.meta[CAPS]).toEqual({ sampling: {}, elicitation: { form: {}, url: {} } });
    // The listen stream asks for exactly the list changes the server declared.
    const listen = await waitFor(async () => (await statsOf(backend)).last["subscriptions/listen"], "the listen stream");
    expect(listen.params.notifications).toEqual({ toolsListChanged: true, resourcesListChanged: true });
  });

  it("mirrors x-mcp-header arguments into Mcp-Param headers, with Mcp-Name and the identity assertion", async () => {
    const result = await call(backend, "echo", { text: "hi", region: "eu-west-1", times: 3 }, { assertion: "signed.jwt.value" });
    expect(firstText(result)).toBe("hi");
    expect(result.structuredContent).toEqual({ text: "hi", region: "eu-west-1", times: 3 });
    expect(result).not.toHaveProperty("resultType");
    const seen = (await statsOf(backend)).last["tools/call echo"]!;
    expect(seen.headers).toMatchObject({
      "mcp-method": "tools/call",
      "mcp-name": "echo",
      "mcp-param-region": "eu-west-1",
      "mcp-param-times": "3",
      authorization: "Bearer signed.jwt.value",
      "x-team": "blue",
    });

    const unsafe = await call(backend, "echo", { text: "x", region: " Zürich " });
    expect(unsafe.structuredContent).toMatchObject({ region: " Zürich " });
    expect((await statsOf(backend)).last["tools/call echo"]!.headers["mcp-param-region"]).toBe(`=?base64?${Buffer.from(" Zürich ").toString("base64")}?=`);

    await call(backend, "echo", { text: "no region" });
    const bare = (await statsOf(backend)).last["tools/call echo"]!.headers;
    expect(bare["mcp-param-region"]).toBeUndefined();
    expect(bare["mcp-param-times"]).toBeUndefined();
  });

  it("delivers progress from the call's SSE stream to the call's owner", async () => {
    const owner = { sessionId: "progress-owner" };
    const result = await backend.request("tools/call", { name: "slow", arguments: { ms: 200 }, _meta: { progressToken: "tok-1" } }, { owner });
    expect(firstText(result)).toBe("slept 200 ms");
    const progress = hooks.notifications.filter((entry) => entry.message.method === "notifications/progress" && entry.message.params?.progressToken === "tok-1");
    expect(progress.map((entry) => entry.message.params?.progress)).toEqual([1, 2, 3]);
    for (const entry of progress) expect(entry.owner).toBe(owner);
    const meta = (await statsOf(backend)).last["tools/call slow"]!.meta;
    expect(meta).toMatchObject({ progressToken: "tok-1", [PV]: VERSION });
  });

  it("cancels by closing the response stream, which the server sees", async () => {
    const before = await statsOf(backend);
    const controller = new AbortController();
    const pending = call(backend, "slow", { ms: 20_000 }, { signal: controller.signal });
    const arrived = (before.calls["tools/call slow"] ?? 0) + 1;
    await waitFor(async () => (await statsOf(backend)).calls["tools/call slow"] === arrived, "the slow call to arrive");
    controller.abort();
    expect((await rejection(pending)).code).toBe(ErrorCode.Cancelled);
    await waitFor(async () => (await statsOf(backend)).cancelled === before.cancelled + 1, "the server to notice the cancellation");
  });

  it("bridges an MRTR elicitation to the calling client and retries with its answer", async () => {
    const owner = { sessionId: "elicited" };
    hooks.answer = (record) => (record.message.method === "elicitation/create" ? { action: "accept", content: { confirmed: true } } : defaultAnswer(record.message));
    const before = hooks.serverRequests.length;
    const result = await call(backend, "confirm", {}, { owner });
    expect(firstText(result)).toBe('confirmed: {"confirmed":true}');
    const asked = hooks.serverRequests.slice(before);
    expect(asked).toHaveLength(1);
    expect(asked[0]!.message.method).toBe("elicitation/create");
    expect(asked[0]!.message.params).toMatchObject({ mode: "form", message: "Proceed with the action?" });
    expect(asked[0]!.owners).toEqual([owner]);
    const stats = await statsOf(backend);
    expect(stats.calls["tools/call confirm"]).toBe(2);
    const retry = stats.last["tools/call confirm"]!;
    expect(retry.params.inputResponses).toEqual({ confirm: { action: "accept", content: { confirmed: true } } });
    expect(typeof retry.params.requestState).toBe("string");
    expect(retry.meta[PV]).toBe(VERSION);

    hooks.answer = () => ({ action: "decline" });
    expect(firstText(await call(backend, "confirm"))).toBe("not confirmed (decline)");
  });

  it("answers the original call with the client's error when the client fails an input request", async () => {
    hooks.answer = () => {
      throw new JsonRpcError(ErrorCode.PolicyDenied, "elicitation is not allowed for this agent");
    };
    const error = await rejection(call(backend, "confirm"));
    expect(error.code).toBe(ErrorCode.PolicyDenied);
    expect(error.message).toBe("elicitation is not allowed for this agent");
  });

  it("withdraws an open input request when its call is cancelled", async () => {
    const before = hooks.serverRequests.length;
    hooks.answer = (record) => new Promise((_resolve, reject) => record.signal.addEventListener("abort", () => reject(new Error("withdrawn"))));
    const controller = new AbortController();
    const pending = call(backend, "confirm", {}, { signal: controller.signal });
    const record = await waitFor(() => hooks.serverRequests[before], "the elicitation");
    controller.abort();
    expect((await rejection(pending)).code).toBe(ErrorCode.Cancelled);
    await waitFor(() => record.signal.aborted, "the question to be withdrawn");
    hooks.answer = (entry) => defaultAnswer(entry.message);
  });

  it("bridges MRTR sampling, including a round that carries only requestState", async () => {
    const before = (await statsOf(backend)).calls["tools/call ask_model"] ?? 0;
    const start = hooks.serverRequests.length;
    const result = await call(backend, "ask_model", { prompt: "What is 2+2?", shed: true }, { owner: { sessionId: "sampler" } });
    expect(firstText(result)).toBe("model said: sampled");
    const asked = hooks.serverRequests.slice(start);
    expect(asked.map((record) => record.message.method)).toEqual(["sampling/createMessage"]);
    expect(asked[0]!.message.params).toMatchObject({ messages: [{ role: "user", content: { type: "text", text: "What is 2+2?" } }], maxTokens: 100 });
    expect(asked[0]!.owners).toEqual([{ sessionId: "sampler" }]);
    expect((await statsOf(backend)).calls["tools/call ask_model"]).toBe(before + 3);
  });

  it("gives up after 16 input_required rounds", async () => {
    const error = await rejection(call(backend, "needy"));
    expect(error.code).toBe(ErrorCode.InternalError);
    expect(error.message).toBe('server "modern" still asked for input on tools/call after 16 rounds');
    expect((await statsOf(backend)).calls["tools/call needy"]).toBe(17);
  });

  it("relearns the tool schemas once after a HeaderMismatch, and retries with the headers", async () => {
    await call(backend, "add_tool", { name: "quiet_tool", header: "Label", quiet: true });
    const before = await statsOf(backend);
    expect(firstText(await call(backend, "quiet_tool", { label: "tagged" }))).toBe("hello from quiet_tool");
    const after = await statsOf(backend);
    expect(after.calls["tools/call quiet_tool"]).toBe(2);
    expect(after.last["tools/call quiet_tool"]!.headers["mcp-param-label"]).toBe("tagged");
    expect(after.calls["tools/list"]).toBeGreaterThan(before.calls["tools/list"]!);
    // The peer was told to refetch, so the catalog learns the tool too.
    await waitFor(() => backend.catalog.tools.some((tool) => tool.name === "quiet_tool"), "quiet_tool in the catalog");
  });

  it("passes the server's errors through: unknown method (404) and invalid params", async () => {
    const missing = await rejection(backend.request("prompts/list", {}));
    expect(missing.code).toBe(ErrorCode.MethodNotFound);
    const unknown = await rejection(backend.request("resources/read", { uri: "memo://nothing" }));
    expect(unknown.code).toBe(ErrorCode.InvalidParams);
    expect(unknown.message).toBe("Resource not found: memo://nothing");
    const read = await backend.request("resources/read", { uri: "memo://note" });
    expect(read).not.toHaveProperty("resultType");
    expect((await statsOf(backend)).last["resources/read"]!.headers["mcp-name"]).toBe("memo://note");
  });

  it("answers ping with a server/discover round trip, and sends the logging level in _meta", async () => {
    const before = (await statsOf(backend)).calls["server/discover"] ?? 0;
    expect(await backend.request("ping", undefined)).toEqual({});
    expect((await statsOf(backend)).calls["server/discover"]).toBe(before + 1);

    expect(await backend.request("logging/setLevel", { level: "warning" })).toEqual({});
    await call(backend, "echo", { text: "logged" });
    expect((await statsOf(backend)).last["tools/call echo"]!.meta["io.modelcontextprotocol/logLevel"]).toBe("warning");
  });

  it("refetches the catalog when the listen stream announces a tools change", async () => {
    const changes = hooks.catalogChanges.length;
    await call(backend, "add_tool", { name: "fresh_tool" });
    await waitFor(() => backend.catalog.tools.some((tool) => tool.name === "fresh_tool"), "the new tool in the catalog");
    expect(hooks.catalogChanges.slice(changes)).toEqual([["tools"]]);
    expect(firstText(await call(backend, "fresh_tool"))).toBe("hello from fresh_tool");
  });

  it("turns resources/subscribe into a listen filter and relays resources/updated without the subscription id", async () => {
    expect(await backend.request("resources/subscribe", { uri: "memo://note" })).toEqual({});
    const stats = await statsOf(backend);
    expect(stats.last["subscriptions/listen"]!.params.notifications).toEqual({ toolsListChanged: true, resourcesListChanged: true, resourceSubscriptions: ["memo://note"] });
    // The stream it replaced closes once the new one is acknowledged.
    await waitFor(async () => (await statsOf(backend)).listensOpen === 1, "a single open listen stream");

    await call(backend, "set_note", { text: "new note" });
    const updated = await waitFor(() => hooks.notifications.find((entry) => entry.message.method === "notifications/resources/updated"), "resources/updated");
    expect(updated.message.params).toEqual({ uri: "memo://note" });
    expect(updated.owner).toBeUndefined();

    expect(await backend.request("resources/unsubscribe", { uri: "memo://note" })).toEqual({});
    expect((await statsOf(backend)).last["subscriptions/listen"]!.params.notifications).toEqual({ toolsListChanged: true, resourcesListChanged: true });
  });

  it("reconnects a dropped listen stream and refetches what it may have missed", async () => {
    const before = await statsOf(backend);
    await call(backend, "end_listens", { graceful: false });
    const after = await waitFor(async () => {
      const stats = await statsOf(backend);
      return stats.listensOpen === 1 && stats.listensOpened > before.listensOpened && stats;
    }, "the listen stream to come back");
    expect(after.listensOpened).toBe(before.listensOpened + 1);
    await waitFor(async () => ((await statsOf(backend)).calls["tools/list"] ?? 0) > (before.calls["tools/list"] ?? 0), "a tools refetch");
    expect(backend.state).toBe("ready");
  });
});

describe("modern backend lifecycle", () => {
  it("goes to restarting when the server goes away, and comes back with it", async () => {
    let fixture = await startFixture();
    const hooks = new RecordingHooks();
    const backend = backendFor(fixture.url, hooks);
    try {
      await backend.start();
      const port = fixture.port;
      await waitFor(async () => ((await statsOf(backend)).listensOpen === 1), "the listen stream");
      await fixture.stop();
      await waitFor(() => backend.state === "restarting", "restarting");
      expect((await rejection(call(backend, "echo", { text: "down" }))).code).toBe(ErrorCode.BackendUnavailable);
      fixture = await startFixture(port);
      await waitFor(() => backend.state === "ready", "ready again", 10_000);
      expect(firstText(await call(backend, "echo", { text: "back" }))).toBe("back");
    } finally {
      await backend.stop();
      await fixture.stop();
    }
  });

  it("refuses to start against a server that is not 2026-07-28", async () => {
    const legacy = await startScriptedHttpServer();
    const backend = backendFor(legacy.url, new RecordingHooks());
    try {
      const error = await rejection(backend.start());
      expect(error.message).toMatch(/^server "modern" failed to start: not a 2026-07-28 server: server\/discover failed with -32601/);
    } finally {
      await backend.stop();
      await legacy.stop();
    }
  });

  it("probeModern tells a 2026-07-28 server from a 2025 one, and rejects when nothing answers", async () => {
    const fixture = await startFixture();
    const legacy = await startScriptedHttpServer();
    try {
      expect(await probeModern(modernConfig(fixture.url))).toBe(true);
      expect(await probeModern(modernConfig(legacy.url))).toBe(false);
      // The SSE legacy endpoint style: an HTTP error without JSON-RPC.
      expect(await probeModern(modernConfig(fixture.url.replace("/mcp", "/sse")))).toBe(false);
    } finally {
      await legacy.stop();
      await fixture.stop();
    }
    await expect(probeModern(modernConfig(fixture.url))).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe("the modern fixture validates requests as the spec says", () => {
  let fixture: Fixture;
  beforeAll(async () => {
    fixture = await startFixture();
  });
  afterAll(async () => {
    await fixture?.stop();
  });

  const META = { [PV]: VERSION, [CAPS]: {} };
  const rpc = (method: string, params: JsonObject = {}, meta: JsonObject | null = META): JsonObject => ({
    jsonrpc: "2.0",
    id: 7,
    method,
    params: meta === null ? params : { ...params, _meta: meta },
  });
  const echo = (args: JsonObject): JsonObject => rpc("tools/call", { name: "echo", arguments: args });
  const b64 = (value: string): string => `=?base64?${Buffer.from(value, "utf8").toString("base64")}?=`;

  interface Case {
    name: string;
    http?: "GET" | "DELETE";
    body?: unknown;
    /** Replaces the defaults (version, Mcp-Method from the body); undefined removes one. */
    headers?: Record<string, string | undefined>;
    status: number;
    code?: number;
    check?: (body: JsonObject, response: Response) => void;
  }

  const cases: Case[] = [
    { name: "GET is not offered", http: "GET", status: 405 },
    { name: "DELETE is not offered", http: "DELETE", status: 405 },
    {
      name: "server/discover answers a cacheable DiscoverResult",
      body: rpc("server/discover"),
      status: 200,
      check: (body) => expect(body.result).toMatchObject({ resultType: "complete", supportedVersions: [VERSION], ttlMs: 60_000, cacheScope: "public" }),
    },
    { name: "MCP-Protocol-Version missing", body: rpc("server/discover"), headers: { "mcp-protocol-version": undefined }, status: 400, code: -32020 },
    {
      name: "unsupported version",
      body: rpc("server/discover", {}, { ...META, [PV]: "2099-01-01" }),
      headers: { "mcp-protocol-version": "2099-01-01" },
      status: 400,
      code: -32022,
      check: (body) => expect((body.error as JsonObject).data).toEqual({ supported: [VERSION], requested: "2099-01-01" }),
    },
    { name: "header version differs from _meta", body: rpc("server/discover", {}, { ...META, [PV]: "2025-11-25" }), status: 400, code: -32020 },
    { name: "Mcp-Method missing", body: rpc("server/discover"), headers: { "mcp-method": undefined }, status: 400, code: -32020 },
    { name: "Mcp-Method differs from the body", body: rpc("server/discover"), headers: { "mcp-method": "tools/list" }, status: 400, code: -32020 },
    { name: "_meta missing", body: rpc("tools/list", {}, null), status: 400, code: -32602 },
    { name: "clientCapabilities missing", body: rpc("tools/list", {}, { [PV]: VERSION }), status: 400, code: -32602 },
    { name: "unknown method", body: rpc("ping"), status: 404, code: -32601 },
    { name: "removed method resources/subscribe", body: rpc("resources/subscribe", { uri: "memo://note" }), status: 404, code: -32601 },
    { name: "Mcp-Name missing on tools/call", body: echo({ text: "a" }), status: 400, code: -32020 },
    { name: "Mcp-Name differs from params.name", body: echo({ text: "a" }), headers: { "mcp-name": "stats" }, status: 400, code: -32020 },
    {
      name: "Mcp-Name in the Base64 sentinel form",
      body: echo({ text: "a" }),
      headers: { "mcp-name": b64("echo") },
      status: 200,
      check: (body) => expect((body.result as JsonObject).structuredContent).toEqual({ text: "a", region: null, times: null }),
    },
    { name: "Mcp-Param-Region missing for a body value", body: echo({ text: "a", region: "us" }), headers: { "mcp-name": "echo" }, status: 400, code: -32020 },
    { name: "Mcp-Param-Region differs", body: echo({ text: "a", region: "us" }), headers: { "mcp-name": "echo", "mcp-param-region": "eu" }, status: 400, code: -32020 },
    { name: "Mcp-Param-Region without a body value", body: echo({ text: "a" }), headers: { "mcp-name": "echo", "mcp-param-region": "eu" }, status: 400, code: -32020 },
    { name: "Mcp-Param-Region with malformed Base64", body: echo({ text: "a", region: "us" }), headers: { "mcp-name": "echo", "mcp-param-region": "=?base64?***?=" }, status: 400, code: -32020 },
    {
      name: "Mcp-Param-Region Base64 of a non-ASCII value",
      body: echo({ text: "a", region: "Zürich" }),
      headers: { "mcp-name": "echo", "mcp-param-region": b64("Zürich") },
      status: 200,
      check: (body) => expect((body.result as JsonObject).structuredContent).toMatchObject({ region: "Zürich" }),
    },
    { name: "null body value needs no header", body: echo({ text: "a", region: null }), headers: { "mcp-name": "echo" }, status: 200 },
    { name: "integers compare numerically", body: echo({ text: "a", times: 3 }), headers: { "mcp-name": "echo", "mcp-param-times": "3.0" }, status: 200 },
    { name: "an integer header that is no number", body: echo({ text: "a", times: 3 }), headers: { "mcp-name": "echo", "mcp-param-times": "3x" }, status: 400, code: -32020 },
    {
      name: "resources/read checks Mcp-Name against the uri",
      body: rpc("resources/read", { uri: "memo://note" }),
      headers: { "mcp-name": "memo://other" },
      status: 400,
      code: -32020,
    },
    {
      name: "resources/read is cacheable",
      body: rpc("resources/read", { uri: "memo://note" }),
      headers: { "mcp-name": "memo://note" },
      status: 200,
      check: (body) => expect(body.result).toMatchObject({ resultType: "complete", ttlMs: 0, cacheScope: "private" }),
    },
    { name: "a notification is accepted with 202", body: { jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } }, status: 202 },
    { name: "a batch is refused", body: [rpc("tools/list")], headers: { "mcp-method": "tools/list" }, status: 400, code: -32600 },
    {
      name: "Mcp-Session-Id is ignored, and none is minted",
      body: rpc("tools/list"),
      headers: { "mcp-session-id": "stale" },
      status: 200,
      check: (body, response) => {
        expect(response.headers.get("mcp-session-id")).toBeNull();
        expect(body.result).toMatchObject({ resultType: "complete", cacheScope: "public" });
      },
    },
    { name: "a foreign Origin is forbidden", body: rpc("tools/list"), headers: { origin: "https://evil.example" }, status: 403 },
  ];

  it.each(cases)("$name → $status", async (test) => {
    const method = typeof test.body === "object" && test.body !== null && !Array.isArray(test.body) ? (test.body as JsonObject).method : undefined;
    const headers: Record<string, string | undefined> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": VERSION,
      "mcp-method": typeof method === "string" ? method : undefined,
      ...test.headers,
    };
    const response = await fetch(fixture.url, {
      method: test.http ?? "POST",
      headers: Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] !== undefined)),
      body: test.http === undefined ? JSON.stringify(test.body) : undefined,
    });
    expect(response.status).toBe(test.status);
    const text = await response.text();
    const body = (text === "" ? {} : JSON.parse(text)) as JsonObject;
    if (test.code !== undefined) {
      expect((body.error as JsonObject | undefined)?.code).toBe(test.code);
      if (typeof method === "string" && test.code !== -32600) expect(body.id).toBe(7);
    }
    test.check?.(body, response);
  });
});
