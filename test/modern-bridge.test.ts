/**
 * Bridging both ways, through a policy-enforcing gateway (real OPA-built bundle of the shipped Rego): 2025 SDK
 * clients reaching a 2026-07-28 backend (test/fixtures/modern-server.ts, found by `protocol: auto`), and the
 * spec-faithful 2026 client reaching it and a 2025 backend; header-first refusals; `Mcp-Param-*` values in the
 * policy input; caching scope under a per-agent policy.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { CreateMessageRequestSchema, ElicitRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import { ensureDevIssuer, mintDevToken } from "../gateway/identity/index.ts";
import { buildWasmBundle, findOpa } from "../gateway/policy/index.ts";
import { queryAudit } from "../gateway/audit/index.ts";
import type { JsonObject, JsonRpcFailure } from "../gateway/protocol/index.ts";
import { FLAKY, ROOT, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";
import { startModernServer } from "./helpers/processes.ts";
import { ModernClient, resultOf } from "./helpers/modern-client.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-modern-bridge-"));
let fixture: Awaited<ReturnType<typeof startModernServer>>;
let gw: RunningGateway;
const clients: Client[] = [];

const grants = {
  gatehouse: {
    version: 1,
    settings: { destructiveScope: "tools:destructive", destructiveByDefault: false },
    agents: {
      demo: { groups: [], grants: [{ id: "demo-all", servers: ["*"], tools: ["*"], resources: ["*"], prompts: ["*"] }] },
      limited: { groups: [], grants: [{ id: "limited-echo", servers: ["flaky"], tools: ["echo"] }] },
    },
    groups: {},
    redact: [],
  },
};

const token = (agent: string) => mintDevToken({ dataDir: dir, issuer: "gatehouse-dev", audience: "bridge-test", agent, scopes: [], ttlSeconds: 600 });

beforeAll(async () => {
  fixture = await startModernServer();
  const dataFile = join(dir, "grants.json");
  writeFileSync(dataFile, JSON.stringify(grants));
  const bundle = join(dir, "policy.tar.gz");
  await buildWasmBundle({ opa: findOpa()!, paths: [`${ROOT}policies/authz.rego`, dataFile], out: bundle, revision: "bridge-1" });
  const dev = await ensureDevIssuer(dir);
  gw = await startGateway(`
dataDir: ${dir}
identity:
  audience: bridge-test
  issuers: [{ name: dev, kind: static, issuer: gatehouse-dev, jwksFile: "${dev.jwksFile}" }]
policy: { bundle: "${bundle}" }
audit: { arguments: raw }
servers:
  - { name: modern, transport: http, url: "${fixture.url}" }
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
`);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await gw?.close();
  await fixture?.stop();
});

async function legacyClient(capabilities: JsonObject = {}): Promise<Client> {
  const c = await connectClient(gw.url, "legacy-bridge", { capabilities }, await token("demo"));
  clients.push(c);
  return c;
}

const modernClient = async (agent = "demo", capabilities: JsonObject = {}) => new ModernClient({ url: gw.url, token: await token(agent), capabilities });

describe("a 2025 client reaching a 2026-07-28 backend", () => {
  it("protocol: auto found the backend's era with server/discover", () => {
    expect(gw.gateway.backend("modern")?.protocolVersion).toBe("2026-07-28");
    expect(gw.gateway.backend("flaky")?.protocolVersion).toBe("2025-11-25");
  });

  it("calls work, and the x-mcp-header argument is mirrored into Mcp-Param-Region upstream", async () => {
    const c = await legacyClient();
    const result = await c.callTool({ name: "modern__echo", arguments: { text: "hello", region: "eu-west1", times: 3 } });
    expect(result.structuredContent).toEqual({ text: "hello", region: "eu-west1", times: 3 });
  });

  it("the backend's input_required becomes an elicitation request to the 2025 client, and its answer finishes the call", async () => {
    const c = await legacyClient({ elicitation: {} });
    const asked: unknown[] = [];
    c.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params);
      return { action: "accept", content: { confirmed: true } };
    });
    const result = await c.callTool({ name: "modern__confirm", arguments: {} });
    expect(asked).toEqual([expect.objectContaining({ message: "Proceed with the action?" })]);
    expect(result.structuredContent).toEqual({ action: "accept", content: { confirmed: true } });
  });

  it("sampling, including a requestState-only round first", async () => {
    const c = await legacyClient({ sampling: {} });
    c.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: "assistant", content: { type: "text", text: "forty-two" }, model: "m" }));
    const result = await c.callTool({ name: "modern__ask_model", arguments: { prompt: "meaning?", shed: true } });
    expect(result.content).toEqual([{ type: "text", text: "model said: forty-two" }]);
  });

  it("progress from the backend's response stream reaches the caller", async () => {
    const c = await legacyClient();
    const progress: number[] = [];
    await c.callTool({ name: "modern__slow", arguments: { ms: 300 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    expect(progress.length).toBeGreaterThan(0);
  });

  it("the backend's tools/list_changed (from its listen stream) reaches the 2025 client, and the new tool is listed", async () => {
    const c = await legacyClient();
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    await c.callTool({ name: "modern__add_tool", arguments: { name: "born_late" } });
    await waitFor(() => changed > 0 || undefined, 10_000, "list_changed");
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toContain("modern__born_late");
    expect(names).not.toContain("modern__bad_header"); // invalid x-mcp-header: left out
  });
});

describe("a 2026-07-28 client through the gateway", () => {
  it("to the 2026 backend: the gateway checks the client's Mcp-Param-Region and mirrors it upstream again", async () => {
    const c = await modernClient();
    await c.listTools();
    const reply = await c.request("tools/call", { name: "modern__echo", arguments: { text: "x", region: "ap-south1" } });
    expect(resultOf(reply).structuredContent).toEqual({ text: "x", region: "ap-south1", times: null });
    const wrong = await c.request("tools/call", { name: "modern__echo", arguments: { text: "x", region: "ap-south1" } }, { headers: { "mcp-param-region": "us-east1" } });
    expect(wrong.status).toBe(400);
    expect((wrong.response as JsonRpcFailure).error).toMatchObject({ code: -32020, message: expect.stringMatching(/Mcp-Param-Region/) });
    const missing = await c.request("tools/call", { name: "modern__echo", arguments: { text: "x", region: "ap-south1" } }, { headers: { "mcp-param-region": null } });
    expect(missing.status).toBe(400);
  });

  it("to the 2026 backend through MRTR at both hops: the backend's question reaches the client and its answer goes back", async () => {
    const c = await modernClient("demo", { elicitation: {} });
    const rounds = await c.callTool("modern__confirm", {}, {
      onInput: async (requests) => Object.fromEntries(Object.keys(requests).map((k) => [k, { action: "accept", content: { confirmed: true } }])),
    });
    expect(rounds.map((r) => resultOf(r).resultType)).toEqual(["input_required", "complete"]);
    expect(resultOf(rounds[1]!).structuredContent).toEqual({ action: "accept", content: { confirmed: true } });
  });

  it("the policy input carries the call's Mcp-Param values (request.mcpParams), as the audit record shows", async () => {
    const c = await modernClient();
    await c.listTools();
    await c.request("tools/call", { name: "modern__echo", arguments: { text: "audited", region: "sa-east1", times: 7 } });
    await gw.gateway.auditLog!.flushNow();
    const records = (await queryAudit(gw.gateway.auditLog!.dir, { method: "tools/call" }, { limit: 1_000 })).records;
    const record = records.find((r) => (r.arguments as JsonObject | undefined)?.text === "audited");
    expect((record?.input?.request as JsonObject | undefined)?.mcpParams).toEqual({ Region: "sa-east1", Times: "7" });
  });

  it("lists filtered per agent are cacheScope private", async () => {
    const result = resultOf(await (await modernClient()).request("tools/list"));
    expect(result).toMatchObject({ resultType: "complete", cacheScope: "private" });
  });

  it("header-first: a tool the agent may not see is refused (403) before the body is even read", async () => {
    const c = await modernClient("limited");
    const headers = c.headersFor("tools/call", { name: "modern__echo" });
    // Not JSON at all: a parse error would be 400, so 403 proves the body was never looked at.
    const reply = await c.post(headers, "this is not json");
    expect(reply.status).toBe(403);
    expect((reply.response as JsonRpcFailure).error).toMatchObject({ code: -31020, message: expect.stringMatching(/not available to this agent/) });
    const allowed = await c.request("tools/call", { name: "flaky__echo", arguments: { text: "fine" } });
    expect(resultOf(allowed).content).toEqual([{ type: "text", text: "fine" }]);
  });

  it("subscriptions/listen at the gateway hears the 2026 backend's list change", async () => {
    const c = await modernClient();
    const stream = c.listen({ toolsListChanged: true });
    await waitFor(() => stream.messages[0], 5_000, "the acknowledgment");
    await c.request("tools/call", { name: "modern__add_tool", arguments: { name: "born_later" } });
    try {
      await waitFor(() => stream.messages.find((m) => "method" in m && m.method === "notifications/tools/list_changed"), 10_000, "list_changed on the listen stream");
    } finally {
      stream.close();
    }
  });
});
