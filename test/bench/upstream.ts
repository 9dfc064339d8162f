// A deliberately minimal MCP upstream for benchmarks: node:http, hand-written JSON-RPC, no SDK on the request
// path. It exists so a benchmark measures the gateway, not the backend (an SDK McpServer over Streamable HTTP
// tops out near 2.8k rps here; this answers an order of magnitude more). It is not a conformant server: it
// does not check sessions, protocol-version headers or Accept, and it only ever answers with JSON.
//
//   POST /s/<i>/mcp   for i in [0, servers)
//   npx node test/bench/upstream.ts --port P --servers N --tools M   (prints the base URL)
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";

export interface BenchUpstreamOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  servers?: number;
  toolsPerServer?: number;
}

export interface BenchUpstream {
  /** The MCP endpoint of server `serverIndex`: http://host:port/s/<i>/mcp */
  url(serverIndex: number): string;
  close(): Promise<void>;
  port: number;
}

const DEFAULT_PROTOCOL_VERSION = "2025-11-25";
const MAX_BODY_BYTES = 1024 * 1024;
const JSON_HEADERS = { "content-type": "application/json" } as const;
const ROUTE = /^\/s\/(\d+)\/mcp(?:\?.*)?$/;

interface JsonRpcMessage {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  params?: { protocolVersion?: unknown; name?: unknown; arguments?: { text?: unknown } } | null;
}

function benchTools(count: number): unknown[] {
  return Array.from({ length: count }, (_, k) => ({
    name: `tool_${k}`,
    description: `Bench tool ${k}: echoes arguments.text.`,
    inputSchema: {
      type: "object",
      properties: { text: { type: "string", description: "Echoed back." } },
    },
    annotations: { readOnlyHint: true },
  }));
}

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, JSON_HEADERS);
  res.end(body);
}

// Responses are assembled as strings around a pre-serialized id: JSON.stringify of the whole envelope costs
// measurably more at tens of thousands of rps, and the result fragments are mostly fixed.
function resultBody(id: unknown, resultJson: string): string {
  return `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${resultJson}}`;
}

function errorBody(id: unknown, code: number, message: string): string {
  return JSON.stringify({ jsonrpc: "2.0", id: id ?? null, error: { code, message } });
}

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // An oversized body is drained, not destroyed, so the 413 can still reach the client on this connection.
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

export async function startBenchUpstream(options: BenchUpstreamOptions = {}): Promise<BenchUpstream> {
  const host = options.host ?? "127.0.0.1";
  const serverCount = options.servers ?? 1;
  const toolsPerServer = options.toolsPerServer ?? 10;
  if (!Number.isInteger(serverCount) || serverCount < 1) throw new Error(`servers must be ≥ 1, got ${serverCount}`);
  if (!Number.isInteger(toolsPerServer) || toolsPerServer < 0) {
    throw new Error(`toolsPerServer must be ≥ 0, got ${toolsPerServer}`);
  }

  const toolsListJson = JSON.stringify({ tools: benchTools(toolsPerServer) });
  const toolNames = new Set(Array.from({ length: toolsPerServer }, (_, k) => `tool_${k}`));
  const okCallJson = JSON.stringify({ content: [{ type: "text", text: "ok" }] });

  function answer(serverIndex: number, message: JsonRpcMessage, res: ServerResponse): void {
    const { id, method } = message;
    if (message.jsonrpc !== "2.0") return send(res, 400, errorBody(id, -32600, "Invalid Request"));
    if (typeof method !== "string") {
      // A JSON-RPC response from the client is accepted like a notification; anything else is malformed.
      const isResponse = "result" in message || "error" in message;
      return isResponse ? send(res, 202, "") : send(res, 400, errorBody(id, -32600, "Invalid Request"));
    }
    if (id === undefined) return send(res, 202, ""); // notifications (initialized, cancelled, ...)

    switch (method) {
      case "tools/call": {
        const name = message.params?.name;
        if (typeof name !== "string" || !toolNames.has(name)) {
          return send(res, 200, errorBody(id, -32602, `Unknown tool: ${String(name)}`));
        }
        const text = message.params?.arguments?.text;
        const resultJson =
          typeof text === "string" ? JSON.stringify({ content: [{ type: "text", text }] }) : okCallJson;
        return send(res, 200, resultBody(id, resultJson));
      }
      case "tools/list":
        return send(res, 200, resultBody(id, toolsListJson));
      case "ping":
        return send(res, 200, resultBody(id, "{}"));
      case "initialize": {
        const requested = message.params?.protocolVersion;
        const result = {
          protocolVersion: typeof requested === "string" ? requested : DEFAULT_PROTOCOL_VERSION,
          capabilities: { tools: {} },
          serverInfo: { name: `bench-upstream-${serverIndex}`, version: "0.0.0" },
        };
        res.writeHead(200, { ...JSON_HEADERS, "mcp-session-id": randomUUID() });
        res.end(resultBody(id, JSON.stringify(result)));
        return;
      }
      default:
        return send(res, 200, errorBody(id, -32601, `Method not found: ${method}`));
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = ROUTE.exec(req.url ?? "");
    const serverIndex = match ? Number(match[1]) : -1;
    if (serverIndex < 0 || serverIndex >= serverCount) return send(res, 404, errorBody(null, -32600, "No such server"));
    if (req.method === "DELETE") return send(res, 200, "");
    // No server-initiated messages, so no GET stream: the spec's answer is 405.
    if (req.method !== "POST") {
      res.writeHead(405, { allow: "POST, DELETE" });
      res.end();
      return;
    }
    const body = await readBody(req);
    if (body === undefined) return send(res, 413, errorBody(null, -32600, "Body too large"));
    let message: unknown;
    try {
      message = JSON.parse(body);
    } catch {
      return send(res, 400, errorBody(null, -32700, "Parse error"));
    }
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      return send(res, 400, errorBody(null, -32600, "Invalid Request: expected one JSON-RPC object"));
    }
    answer(serverIndex, message as JsonRpcMessage, res);
  }

  const server = createServer({ keepAlive: true, keepAliveTimeout: 65_000 }, (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, errorBody(null, -32603, "Internal error"));
      else res.destroy();
    });
  });
  // Load generators hold connections open across the whole run; don't time them out between bursts.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(":") ? `[${host}]` : host;

  return {
    port,
    url(serverIndex: number): string {
      if (!Number.isInteger(serverIndex) || serverIndex < 0 || serverIndex >= serverCount) {
        throw new RangeError(`server index ${serverIndex} outside [0, ${serverCount})`);
      }
      return `http://${urlHost}:${port}/s/${serverIndex}/mcp`;
    },
    close(): Promise<void> {
      return new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}

function parseCliFlags(argv: string[]): BenchUpstreamOptions {
  const options: BenchUpstreamOptions = {};
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`missing value for ${flag}`);
    const number = Number(value);
    switch (flag) {
      case "--port":
        options.port = number;
        break;
      case "--servers":
        options.servers = number;
        break;
      case "--tools":
        options.toolsPerServer = number;
        break;
      case "--host":
        options.host = value;
        break;
      default:
        throw new Error(`unknown flag ${flag} (expected --port, --host, --servers, --tools)`);
    }
  }
  return options;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const options = parseCliFlags(process.argv.slice(2));
  const upstream = await startBenchUpstream(options);
  const base = upstream.url(0).replace(/\/s\/0\/mcp$/, "");
  console.log(base);
  console.error(`bench upstream: ${options.servers ?? 1} server(s) at ${base}/s/<i>/mcp`);
  const stop = () => void upstream.close().then(() => process.exit(0));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
