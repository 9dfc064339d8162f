/**
 * Identity on every request, through a running gateway: 401/403 with the spec's challenges, RFC 9728 metadata,
 * session binding, and identity assertions to backends (never the client's own token).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createRemoteJWKSet, jwtVerify } from "jose";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ensureDevIssuer, mintDevToken } from "../gateway/identity/index.ts";
import { FLAKY, connectClient, startGateway, type RunningGateway } from "./helpers/gateway.ts";
import { startScriptedHttpServer, type ScriptedHttpServer } from "./fixtures/scripted-http-server.ts";
import { runPythonClient } from "./interop/python.ts";

const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-identity-"));
let gw: RunningGateway;
let scripted: ScriptedHttpServer;
const clients: Client[] = [];
const mint = (agent: string, scopes: string[] = ["tools:call"], ttlSeconds = 600, audience = "https://gatehouse.test/mcp") =>
  mintDevToken({ dataDir, issuer: "gatehouse-test", audience, agent, scopes, ttlSeconds });
const MCP = { "content-type": "application/json", accept: "application/json, text/event-stream" };
const initBody = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } });

beforeAll(async () => {
  const dev = await ensureDevIssuer(dataDir);
  scripted = await startScriptedHttpServer({});
  gw = await startGateway(`
dataDir: ${dataDir}
identity:
  audience: https://gatehouse.test/mcp
  requiredScopes: [tools:call]
  issuers:
    - { name: test, kind: static, issuer: gatehouse-test, jwksFile: "${dev.jwksFile}" }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"], identity: assertion }
  - { name: remote, transport: http, url: "${scripted.url}", identity: assertion }
  - { name: plain, transport: http, url: "${scripted.url}" }
`);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await gw?.close();
  await scripted?.stop();
});

describe("authentication on /mcp", () => {
  const cases: Array<{ name: string; headers: () => Promise<Record<string, string>>; url?: string; status: number; challenge: RegExp }> = [
    { name: "no token", headers: async () => ({}), status: 401, challenge: /^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"$/ },
    { name: "a malformed token", headers: async () => ({ authorization: "Bearer not.a.jwt" }), status: 401, challenge: /error="invalid_token"/ },
    { name: "an expired token", headers: async () => ({ authorization: `Bearer ${await mint("a", ["tools:call"], -120)}` }), status: 401, challenge: /error="invalid_token"/ },
    { name: "a token for another audience", headers: async () => ({ authorization: `Bearer ${await mint("a", ["tools:call"], 600, "https://elsewhere")}` }), status: 401, challenge: /error="invalid_token"/ },
    { name: "a token without the required scope", headers: async () => ({ authorization: `Bearer ${await mint("a", [])}` }), status: 403, challenge: /error="insufficient_scope".*scope="tools:call"/ },
    { name: "Basic credentials", headers: async () => ({ authorization: "Basic YTpi" }), status: 401, challenge: /error="invalid_request"/ },
  ];
  it.each(cases)("$name → $status with a WWW-Authenticate challenge", async ({ headers, status, challenge }) => {
    const response = await fetch(gw.url, { method: "POST", headers: { ...MCP, ...(await headers()) }, body: initBody });
    expect(response.status).toBe(status);
    expect(response.headers.get("www-authenticate")).toMatch(challenge);
    expect(response.headers.get("www-authenticate")).toContain("resource_metadata=");
  });

  it("a token in the query string is refused even with a valid header", async () => {
    const token = await mint("a");
    const response = await fetch(`${gw.url}?access_token=${token}`, { method: "POST", headers: { ...MCP, authorization: `Bearer ${token}` }, body: initBody });
    expect(response.status).toBe(401);
    expect(await response.text()).not.toContain(token);
  });

  it("GET and DELETE are authenticated too", async () => {
    expect((await fetch(gw.url, { headers: { accept: "text/event-stream", "mcp-session-id": "x" } })).status).toBe(401);
    expect((await fetch(gw.url, { method: "DELETE", headers: { "mcp-session-id": "x" } })).status).toBe(401);
  });

  it("serves RFC 9728 metadata at the bare and the path-suffixed well-known URL", async () => {
    for (const path of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]) {
      const response = await fetch(gw.url.replace("/mcp", path));
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ resource: "https://gatehouse.test/mcp", bearer_methods_supported: ["header"], scopes_supported: ["tools:call"] });
    }
  });
});

describe("sessions are bound to their identity", () => {
  it("agent B presenting agent A's session id gets 404; A carries on", async () => {
    const tokenA = await mint("agent-a");
    const tokenB = await mint("agent-b");
    const init = await fetch(gw.url, { method: "POST", headers: { ...MCP, authorization: `Bearer ${tokenA}` }, body: initBody });
    expect(init.status).toBe(200);
    const session = init.headers.get("mcp-session-id")!;
    const ping = JSON.stringify({ jsonrpc: "2.0", id: 2, method: "ping" });
    const hijack = await fetch(gw.url, { method: "POST", headers: { ...MCP, authorization: `Bearer ${tokenB}`, "mcp-session-id": session }, body: ping });
    expect(hijack.status).toBe(404);
    const hijackDelete = await fetch(gw.url, { method: "DELETE", headers: { authorization: `Bearer ${tokenB}`, "mcp-session-id": session } });
    expect(hijackDelete.status).toBe(404);
    const owner = await fetch(gw.url, { method: "POST", headers: { ...MCP, authorization: `Bearer ${tokenA}`, "mcp-session-id": session }, body: ping });
    expect(owner.status).toBe(200);
  });
});

describe("identity assertions to backends", () => {
  const jwks = () => createRemoteJWKSet(new URL(gw.url.replace("/mcp", "/.well-known/jwks.json")));

  it("a stdio backend gets a short-lived gateway-signed assertion in _meta, never the client's token", async () => {
    const token = await mint("agent-stdio");
    const client = await connectClient(gw.url, "assert-stdio", {}, token);
    clients.push(client);
    const result = await client.callTool({ name: "flaky__whoami", arguments: {} });
    const meta = JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as Record<string, string>;
    const assertion = meta["io.gatehouse/identity"]!;
    expect(assertion).toBeDefined();
    expect(assertion).not.toBe(token);
    const { payload, protectedHeader } = await jwtVerify(assertion, jwks(), { audience: "flaky" });
    expect(protectedHeader.alg).toBe("ES256");
    expect(payload.sub).toBe("agent-stdio");
    expect((payload.act as { sub: string }).sub).toMatch(/^gatehouse/);
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
  });

  it("an HTTP backend gets the assertion as its bearer token; one without `identity: assertion` gets none", async () => {
    const token = await mint("agent-http");
    const client = await connectClient(gw.url, "assert-http", {}, token);
    clients.push(client);
    scripted.requests.length = 0;
    await client.callTool({ name: "remote__echo", arguments: { text: "with assertion" } });
    await client.callTool({ name: "plain__echo", arguments: { text: "without" } });
    const calls = scripted.requests.filter((r) => r.rpcMethod === "tools/call");
    expect(calls).toHaveLength(2);
    const [withAssertion, without] = calls;
    const bearer = String(withAssertion!.headers.authorization).replace(/^Bearer /, "");
    expect(bearer).not.toBe(token);
    const { payload } = await jwtVerify(bearer, jwks(), { audience: "remote" });
    expect(payload.sub).toBe("agent-http");
    expect(without!.headers.authorization).toBeUndefined();
    for (const request of scripted.requests) expect(JSON.stringify(request.headers)).not.toContain(token);
  });
});

describe("clients with tokens", () => {
  it("the Python mcp client passes a bearer token and calls through", async () => {
    const token = await mint("python-agent");
    const report = await runPythonClient(gw.url, "flaky__echo", { text: "python with a token" }, { GATEHOUSE_TOKEN: token, GATEHOUSE_PY_MODE: "legacy" });
    expect(report.serverName).toBe("gatehouse");
    expect(JSON.stringify(report.call.content)).toContain("python with a token");
    await expect(runPythonClient(gw.url, "flaky__echo", {}, { GATEHOUSE_PY_MODE: "legacy" })).rejects.toThrow();
  });
});
