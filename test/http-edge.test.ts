/**
 * The /mcp transport's answers to bad input, over raw HTTP (fetch), against a gateway with a real backend.
 * Each row: what the client sends, the HTTP status and JSON-RPC error code it must get back.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FLAKY, startGateway, type RunningGateway } from "./helpers/gateway.ts";

let gw: RunningGateway;
let sessionId: string;

const BASE_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" };

async function post(body: string, headers: Record<string, string> = {}) {
  const response = await fetch(gw.url, { method: "POST", headers: { ...BASE_HEADERS, ...headers }, body });
  const text = await response.text();
  return { status: response.status, headers: response.headers, text, json: text ? safeJson(text) : undefined };
}

function rawStatus(method: string, headers: Record<string, string>, body?: string): Promise<number> {
  const url = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method, headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      res.destroy();
    });
    req.on("error", reject);
    req.end(body);
  });
}

function safeJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function initializeBody(version = "2025-11-25"): string {
  return JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: version, capabilities: {}, clientInfo: { name: "raw", version: "1" } } });
}

async function initialize(version = "2025-11-25"): Promise<string> {
  const res = await post(initializeBody(version));
  expect(res.status).toBe(200);
  const id = res.headers.get("mcp-session-id");
  expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  await post(JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), { "mcp-session-id": id!, "mcp-protocol-version": version });
  return id!;
}

beforeAll(async () => {
  gw = await startGateway(`
http: { maxBodyBytes: 2048 }
servers:
  - name: flaky
    transport: stdio
    command: node
    args: ["${FLAKY}"]
`);
  sessionId = await initialize();
});

afterAll(async () => {
  await gw?.close();
});

describe("POST /mcp rejects bad input precisely", () => {
  const call = (id: number, name: string) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: {} } });
  const cases: Array<{ name: string; body: () => string; headers?: () => Record<string, string>; status: number; code?: number; message?: RegExp }> = [
    { name: "invalid JSON", body: () => "{not json", headers: () => ({ "mcp-session-id": sessionId }), status: 400, code: -32700 },
    { name: "not a JSON-RPC object", body: () => "42", headers: () => ({ "mcp-session-id": sessionId }), status: 400, code: -32600 },
    { name: "wrong jsonrpc version", body: () => JSON.stringify({ jsonrpc: "1.0", id: 1, method: "ping" }), headers: () => ({ "mcp-session-id": sessionId }), status: 400, code: -32600 },
    {
      name: "a batch under 2025-06-18",
      body: () => JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "ping" }]),
      headers: () => ({ "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" }),
      status: 400,
      code: -32600,
      message: /batches are not supported/,
    },
    {
      name: "an unsupported protocol version header",
      body: () => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      headers: () => ({ "mcp-session-id": sessionId, "mcp-protocol-version": "1999-01-01" }),
      status: 400,
      code: -32022,
      message: /unsupported MCP-Protocol-Version "1999-01-01"; supported: 2026-07-28, 2025-11-25, 2025-06-18, 2025-03-26/,
    },
    { name: "no session id", body: () => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), status: 400, message: /Mcp-Session-Id header is required/ },
    {
      name: "an unknown session id",
      body: () => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      headers: () => ({ "mcp-session-id": "AAAAAAAAAAAAAAAAAAAAAA" }),
      status: 404,
    },
    { name: "an oversized body", body: () => call(1, "x".repeat(4096)), headers: () => ({ "mcp-session-id": sessionId }), status: 413 },
    {
      name: "a foreign Origin",
      body: () => JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      headers: () => ({ "mcp-session-id": sessionId, origin: "https://evil.example" }),
      status: 403,
    },
    { name: "a wrong content type", body: () => "{}", headers: () => ({ "mcp-session-id": sessionId, "content-type": "text/plain" }), status: 415 },
  ];

  it.each(cases)("$name → $status", async ({ body, headers, status, code, message }) => {
    const res = await post(body(), headers?.() ?? {});
    expect(res.status).toBe(status);
    expect(res.json?.jsonrpc).toBe("2.0");
    if (code !== undefined) expect(res.json.error.code).toBe(code);
    if (message !== undefined) expect(res.json.error.message).toMatch(message);
  });

  it("an unknown tool is a JSON-RPC -32602 naming the tool", async () => {
    const res = await post(call(7, "no_such_tool"), { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ jsonrpc: "2.0", id: 7, error: { code: -32602, message: "Unknown tool: no_such_tool" } });
  });

  it("an unknown method is -32601", async () => {
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "tools/frobnicate" }), { "mcp-session-id": sessionId });
    expect(res.json.error.code).toBe(-32601);
  });

  it("invalid arguments are a tool error under 2025-11-25 and -32602 under 2025-06-18", async () => {
    const bad = JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "echo", arguments: { text: 5 } } });
    const modern = await post(bad, { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" });
    expect(modern.json.result.isError).toBe(true);
    expect(modern.json.result.content[0].text).toMatch(/Invalid arguments for tool echo: arguments\/text must be string/);

    const older = await initialize("2025-06-18");
    const res = await post(bad, { "mcp-session-id": older, "mcp-protocol-version": "2025-06-18" });
    expect(res.json.error.code).toBe(-32602);
  });

  it("a DNS-rebinding request (attacker's Host and Origin) is refused on a loopback bind", async () => {
    // fetch() will not send a custom Host header; node:http will, as a rebinding browser effectively does.
    const port = new URL(gw.url).port;
    const rebound = { host: `attacker.example:${port}`, origin: `http://attacker.example:${port}` };
    expect(await rawStatus("POST", { ...BASE_HEADERS, ...rebound }, initializeBody())).toBe(403);
    expect(await rawStatus("GET", { accept: "text/event-stream", "mcp-session-id": sessionId, host: rebound.host })).toBe(403);
    // The same request with a loopback Host and no Origin (a non-browser client) is served.
    expect(await rawStatus("POST", { ...BASE_HEADERS, host: `127.0.0.1:${port}` }, initializeBody())).toBe(200);
  });

  it("a client that accepts only SSE gets initialize and calls as one-event SSE streams", async () => {
    const init = await post(initializeBody(), { accept: "text/event-stream" });
    expect(init.status).toBe(200);
    expect(init.headers.get("content-type")).toBe("text/event-stream");
    expect(init.headers.get("mcp-session-id")).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(init.text).toMatch(/^event: message\ndata: \{"jsonrpc":"2.0","id":1,"result":\{"protocolVersion":"2025-11-25"/);
    const id = init.headers.get("mcp-session-id")!;
    const ping = await post(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" }), { accept: "text/event-stream", "mcp-session-id": id });
    expect(ping.headers.get("content-type")).toBe("text/event-stream");
    expect(ping.text).toBe('event: message\ndata: {"jsonrpc":"2.0","id":2,"result":{}}\n\n');
  });

  it("initialize without capabilities is -32602, and creates no session", async () => {
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "initialize", params: { protocolVersion: "2025-11-25" } }));
    expect(res.json.error.code).toBe(-32602);
    expect(res.headers.get("mcp-session-id")).toBeNull();
  });

  it("a second call reusing the id of a call in flight is refused; the first completes", async () => {
    const headers = { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-11-25" };
    const slow = post(JSON.stringify({ jsonrpc: "2.0", id: 77, method: "tools/call", params: { name: "slow", arguments: { ms: 300, steps: 1 } } }), headers);
    await new Promise((r) => setTimeout(r, 100));
    const dup = await post(JSON.stringify({ jsonrpc: "2.0", id: 77, method: "tools/call", params: { name: "echo", arguments: { text: "dup" } } }), headers);
    expect(dup.json.error.code).toBe(-32600);
    expect(dup.json.error.message).toMatch(/already in use/);
    const first = await slow;
    expect(first.json.result.content[0].text).toBe("done");
  });

  it("HEAD /mcp is 405 and attaches no stream (a real GET still works afterwards)", async () => {
    const id = await initialize();
    const head = await fetch(gw.url, { method: "HEAD", headers: { accept: "text/event-stream", "mcp-session-id": id } });
    expect(head.status).toBe(405);
    const get = await fetch(gw.url, { headers: { accept: "text/event-stream", "mcp-session-id": id } });
    expect(get.status).toBe(200);
    await get.body?.cancel();
  });

  it("a same-origin browser request passes the Origin check", async () => {
    const host = new URL(gw.url).host;
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "ping" }), { "mcp-session-id": sessionId, origin: `http://${host}` });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ jsonrpc: "2.0", id: 3, result: {} });
  });
});

describe("sessions", () => {
  it("ids are unique and unguessable (128 random bits)", async () => {
    const ids = new Set(await Promise.all(Array.from({ length: 20 }, () => initialize())));
    expect(ids.size).toBe(20);
  });

  it("DELETE ends a session; its id then gets 404", async () => {
    const id = await initialize();
    const del = await fetch(gw.url, { method: "DELETE", headers: { "mcp-session-id": id } });
    expect(del.status).toBe(200);
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { "mcp-session-id": id });
    expect(res.status).toBe(404);
  });

  it("a batch works under 2025-03-26, where the spec still allowed it", async () => {
    const id = await initialize("2025-03-26");
    const res = await post(
      JSON.stringify([
        { jsonrpc: "2.0", id: "a", method: "ping" },
        { jsonrpc: "2.0", id: "b", method: "tools/call", params: { name: "echo", arguments: { text: "hi" } } },
        { jsonrpc: "2.0", method: "notifications/initialized" },
      ]),
      { "mcp-session-id": id },
    );
    expect(res.status).toBe(200);
    expect(res.json).toHaveLength(2);
    expect(res.json[0]).toEqual({ jsonrpc: "2.0", id: "a", result: {} });
    expect(res.json[1].result.content[0].text).toContain("hi");
  });

  it("a second GET stream on one session is a 409, and GET without SSE in Accept is 406", async () => {
    const id = await initialize();
    const first = await fetch(gw.url, { headers: { accept: "text/event-stream", "mcp-session-id": id } });
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("text/event-stream");
    const second = await fetch(gw.url, { headers: { accept: "text/event-stream", "mcp-session-id": id } });
    expect(second.status).toBe(409);
    const wrongAccept = await fetch(gw.url, { headers: { accept: "application/json", "mcp-session-id": id } });
    expect(wrongAccept.status).toBe(406);
    await first.body?.cancel();
  });

  it("an initialize carrying a session id is refused", async () => {
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "1" } } }), {
      "mcp-session-id": sessionId,
    });
    expect(res.status).toBe(400);
  });
});

describe("probes", () => {
  it("/healthz and /readyz answer with the backends' states", async () => {
    expect((await fetch(gw.url.replace("/mcp", "/healthz"))).status).toBe(200);
    const ready = await fetch(gw.url.replace("/mcp", "/readyz"));
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", servers: { flaky: "ready" } });
  });
});
