/**
 * A reference, not a gateway: the least a Node process can do to relay MCP over HTTP (node:http in, one undici
 * pool out, the body parsed once and re-serialized with a new id). The benchmark runs it beside the gateway so
 * the table shows what one extra process hop costs on this machine before any gateway logic.
 *
 *   npx node test/bench/passthrough.ts <upstream MCP URL>   (prints "passthrough http://127.0.0.1:PORT/mcp")
 */
import { createServer } from "node:http";
import { Pool } from "undici";

const target = new URL(process.argv[2] ?? "");
const pool = new Pool(target.origin, { connections: 64 });
const upstreamHeaders = { "content-type": "application/json", accept: "application/json, text/event-stream" };
let nextId = 0;

const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const message = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { id?: unknown };
    const headers: Record<string, string> = { ...upstreamHeaders };
    const session = req.headers["mcp-session-id"];
    if (typeof session === "string") headers["mcp-session-id"] = session;
    pool
      .request({ method: "POST", path: target.pathname, headers, body: JSON.stringify({ ...message, id: ++nextId }) })
      .then(async (upstream) => {
        const text = await upstream.body.text();
        const sessionOut = upstream.headers["mcp-session-id"];
        const answer = text === "" ? "" : JSON.stringify({ ...(JSON.parse(text) as object), id: message.id });
        res.writeHead(upstream.statusCode, { "content-type": "application/json", ...(typeof sessionOut === "string" ? { "mcp-session-id": sessionOut } : {}) });
        res.end(answer);
      })
      .catch(() => {
        res.writeHead(502).end();
      });
  });
});

server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  process.stdout.write(`passthrough http://127.0.0.1:${port}/mcp\n`);
});
process.on("SIGTERM", () => process.exit(0));
