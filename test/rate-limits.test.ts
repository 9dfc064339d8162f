/**
 * Rate limits through a running gateway (in-memory state): the config's per-agent bucket, and the bucket the
 * shipped policy (policies/authz.rego, compiled by the real OPA) asks for through its rateLimit obligation.
 * The shared (Redis) buckets are exercised across two processes in scale-out.test.ts.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { buildWasmBundle, findOpa } from "../gateway/policy/index.ts";
import { queryAudit } from "../gateway/audit/index.ts";
import { FLAKY, ROOT, connectClient, startGateway, type RunningGateway } from "./helpers/gateway.ts";
import { IDENTITY_YAML, mintToken } from "./helpers/replicas.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-rate-limits-"));
const auditDir = join(dir, "audit-log");
let gw: RunningGateway;
const clients: Client[] = [];

const data = {
  gatehouse: {
    version: 1,
    settings: { destructiveScope: "tools:destructive", destructiveByDefault: false },
    agents: {
      metered: { groups: [], grants: [{ id: "metered-echo", servers: ["flaky"], tools: ["echo"], rateLimit: { perMinute: 2 } }, { id: "metered-rest", servers: ["flaky"], tools: ["whoami"] }] },
      free: { groups: [], grants: [{ id: "free-all", servers: ["*"], tools: ["*"] }] },
      twin: { groups: [], grants: [{ id: "twin-all", servers: ["*"], tools: ["*"] }] },
    },
    groups: {},
    redact: [],
  },
};

type Refusal = { code?: number; message: string; data?: { limit?: string; retryAfterMs?: number } };
const outcome = (pending: Promise<unknown>): Promise<"ok" | Refusal> => pending.then(() => "ok" as const, (error: Refusal) => error);

async function client(agent: string): Promise<Client> {
  const c = await connectClient(gw.url, agent, {}, await mintToken(agent));
  clients.push(c);
  return c;
}

beforeAll(async () => {
  writeFileSync(join(dir, "data.json"), JSON.stringify(data));
  const bundle = join(dir, "bundle.tar.gz");
  await buildWasmBundle({ opa: findOpa()!, paths: [`${ROOT}policies/authz.rego`, join(dir, "data.json")], out: bundle, revision: "rate-limits" });
  gw = await startGateway(`
dataDir: ${dir}
${IDENTITY_YAML}
policy: { bundle: "${bundle}" }
audit: { dir: "${auditDir}" }
rateLimits: { perAgent: { perMinute: 60, burst: 4 } }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
`);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await gw?.close();
});

describe("rate limits", () => {
  it("the policy's obligation limits its grant, the config's per-agent bucket all calls; refusals take no tokens", async () => {
    const metered = await client("metered");
    const echo = () => outcome(metered.callTool({ name: "echo", arguments: { text: "hi" } }));
    const whoami = () => outcome(metered.callTool({ name: "whoami", arguments: {} }));
    expect(await echo()).toBe("ok");
    expect(await echo()).toBe("ok");
    const byPolicy = (await echo()) as Refusal;
    expect(byPolicy.code).toBe(-31029);
    expect(byPolicy.message).toMatch(/^MCP error -31029: Rate limit exceeded: policy grant:metered-echo allows 2 per minute \(burst 2\) for tool echo on flaky; retry in \d+\.\d s$/);
    expect(byPolicy.data).toMatchObject({ limit: "policy grant:metered-echo" });
    expect(byPolicy.data!.retryAfterMs).toBeGreaterThan(20_000);
    // The refused echo took nothing from the per-agent bucket (4): two more calls fit, the third does not.
    expect(await whoami()).toBe("ok");
    expect(await whoami()).toBe("ok");
    const byConfig = (await whoami()) as Refusal;
    expect(byConfig.code).toBe(-31029);
    expect(byConfig.data?.limit).toBe("perAgent");

    // Another agent's buckets are its own.
    const free = await client("free");
    for (let i = 0; i < 4; i++) expect(await outcome(free.callTool({ name: "echo", arguments: { text: `${i}` } }))).toBe("ok");
    expect(((await outcome(free.callTool({ name: "echo", arguments: { text: "5th" } }))) as Refusal).data?.limit).toBe("perAgent");
  });

  it("under a rate limit, a request id already in flight is still refused (the id is claimed before the limiter waits)", async () => {
    const auth = { authorization: `Bearer ${await mintToken("twin")}`, "content-type": "application/json", accept: "application/json, text/event-stream" };
    const init = await fetch(gw.url, { method: "POST", headers: auth, body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "twin", version: "1" } } }) });
    expect(init.status).toBe(200);
    const headers = { ...auth, "mcp-session-id": init.headers.get("mcp-session-id")!, "mcp-protocol-version": "2025-03-26" };
    // 2025-03-26 batches dispatch both items in one turn: both reach the rate limiter together.
    const call = (text: string) => ({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "echo", arguments: { text } } });
    const res = await fetch(gw.url, { method: "POST", headers, body: JSON.stringify([call("a"), call("b")]) });
    const replies = (await res.json()) as Array<{ result?: { content: Array<{ text: string }> }; error?: { code: number; message: string } }>;
    expect(replies).toHaveLength(2);
    expect(replies.filter((r) => r.result !== undefined)).toHaveLength(1);
    const refused = replies.find((r) => r.error !== undefined)!;
    expect(refused.error!.code).toBe(-32600);
    expect(refused.error!.message).toMatch(/request id 7 is already in use/);
  });

  it("every refusal is in the audit trail, as an allowed decision whose outcome is the rate-limit error", async () => {
    await gw.gateway.auditLog!.flushNow();
    const records = (await queryAudit(auditDir, { agent: "metered", tool: "echo" }, { limit: 100 })).records;
    const refused = records.filter((r) => r.outcome.code === -31029);
    expect(refused).toHaveLength(1);
    expect(refused[0]!.decision.result).toBe("allow");
    expect(refused[0]!.outcome.message).toMatch(/policy grant:metered-echo/);
    expect(records.filter((r) => r.outcome.status === "ok")).toHaveLength(2);
  });
});
