import { spawn } from "node:child_process";
import { Agent, request } from "node:http";
import { fileURLToPath } from "node:url";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBenchUpstream, type BenchUpstream } from "./upstream.ts";

async function rpc(url: string, body: unknown): Promise<{ status: number; headers: Headers; json: any }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : undefined };
}

describe("bench upstream", () => {
  let upstream: BenchUpstream;

  beforeAll(async () => {
    upstream = await startBenchUpstream({ servers: 3, toolsPerServer: 4 });
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it("answers initialize with the requested version, tools capability, server info and a session id", async () => {
    const { status, headers, json } = await rpc(upstream.url(2), {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } },
    });
    expect(status).toBe(200);
    expect(headers.get("content-type")).toBe("application/json");
    expect(headers.get("mcp-session-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(json).toEqual({
      jsonrpc: "2.0",
      id: 1,
      result: {
        protocolVersion: "2025-06-18",
        capabilities: { tools: {} },
        serverInfo: { name: "bench-upstream-2", version: "0.0.0" },
      },
    });
  });

  it("defaults the protocol version to 2025-11-25", async () => {
    const { json } = await rpc(upstream.url(0), { jsonrpc: "2.0", id: "a", method: "initialize", params: {} });
    expect(json.result.protocolVersion).toBe("2025-11-25");
    expect(json.id).toBe("a");
  });

  it("accepts notifications with 202 and no body", async () => {
    const { status, json } = await rpc(upstream.url(0), { jsonrpc: "2.0", method: "notifications/initialized" });
    expect(status).toBe(202);
    expect(json).toBeUndefined();
  });

  it("lists toolsPerServer tools with input schemas", async () => {
    const { json } = await rpc(upstream.url(1), { jsonrpc: "2.0", id: 7, method: "tools/list" });
    expect(json.result.tools.map((tool: { name: string }) => tool.name)).toEqual([
      "tool_0",
      "tool_1",
      "tool_2",
      "tool_3",
    ]);
    expect(json.result.tools[0].inputSchema).toMatchObject({ type: "object", properties: { text: { type: "string" } } });
  });

  it("echoes arguments.text on tools/call, or says ok", async () => {
    const echoed = await rpc(upstream.url(0), {
      jsonrpc: "2.0",
      id: 8,
      method: "tools/call",
      params: { name: "tool_3", arguments: { text: 'quote " and ünïcode' } },
    });
    expect(echoed.json).toEqual({ jsonrpc: "2.0", id: 8, result: { content: [{ type: "text", text: 'quote " and ünïcode' }] } });
    const plain = await rpc(upstream.url(0), { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "tool_0" } });
    expect(plain.json.result.content).toEqual([{ type: "text", text: "ok" }]);
  });

  it("refuses unknown tools, unknown methods, out-of-range servers and malformed bodies", async () => {
    const unknownTool = await rpc(upstream.url(0), { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "tool_4" } });
    expect(unknownTool.json.error.code).toBe(-32602);
    const unknownMethod = await rpc(upstream.url(0), { jsonrpc: "2.0", id: 2, method: "resources/list" });
    expect(unknownMethod.json).toEqual({ jsonrpc: "2.0", id: 2, error: { code: -32601, message: "Method not found: resources/list" } });
    const ping = await rpc(upstream.url(0), { jsonrpc: "2.0", id: 3, method: "ping" });
    expect(ping.json.result).toEqual({});
    const noServer = await rpc(upstream.url(0).replace("/s/0/", "/s/3/"), { jsonrpc: "2.0", id: 4, method: "ping" });
    expect(noServer.status).toBe(404);
    const garbage = await rpc(upstream.url(0), "{not json");
    expect(garbage.status).toBe(400);
    expect(garbage.json.error.code).toBe(-32700);
    const get = await fetch(upstream.url(0), { method: "GET" });
    expect(get.status).toBe(405);
    expect(() => upstream.url(3)).toThrow(RangeError);
  });

  it("keeps connections alive between requests", async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const post = () =>
      new Promise<boolean>((resolve, reject) => {
        const req = request(upstream.url(0), { method: "POST", agent, headers: { "content-type": "application/json" } }, (res) => {
          res.resume();
          res.on("end", () => resolve(req.reusedSocket));
        });
        req.on("error", reject);
        req.end(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }));
      });
    try {
      expect(await post()).toBe(false);
      expect(await post()).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it("is usable by the SDK client (initialize, list, call)", async () => {
    const client = new Client({ name: "bench-test", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(upstream.url(1))));
    try {
      expect(client.getServerVersion()?.name).toBe("bench-upstream-1");
      const { tools } = await client.listTools();
      expect(tools).toHaveLength(4);
      const result = await client.callTool({ name: "tool_2", arguments: { text: "through the sdk" } });
      expect(result.content).toEqual([{ type: "text", text: "through the sdk" }]);
    } finally {
      await client.close();
    }
  });
});

describe("bench upstream as a script", () => {
  it("prints its base URL and serves /s/<i>/mcp", async () => {
    const script = fileURLToPath(new URL("./upstream.ts", import.meta.url));
    const child = spawn(process.execPath, [script, "--port", "0", "--servers", "2", "--tools", "3"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    try {
      const base = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no URL printed within 10 s")), 10_000);
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          out += chunk;
          const newline = out.indexOf("\n");
          if (newline >= 0) {
            clearTimeout(timer);
            resolve(out.slice(0, newline));
          }
        });
        child.once("exit", (code) => reject(new Error(`exited early with ${code}`)));
      });
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const { json } = await rpc(`${base}/s/1/mcp`, { jsonrpc: "2.0", id: 1, method: "tools/list" });
      expect(json.result.tools).toHaveLength(3);
    } finally {
      child.kill("SIGTERM");
    }
  });
});
