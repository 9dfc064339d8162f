/**
 * The audit log through the running gateway: real tokens, a real OPA-built bundle with a redaction rule, real
 * backends, the SDK client; then the auditor's side, /admin/audit and the CLI (verify, query, tail, replay).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ensureDevIssuer, mintDevToken } from "../gateway/identity/index.ts";
import { buildWasmBundle, findOpa } from "../gateway/policy/index.ts";
import { queryAudit, verifyAuditDir, type AuditRecord } from "../gateway/audit/index.ts";
import { canonicalJson, sha256Hex } from "../gateway/protocol/index.ts";
import { FLAKY, ROOT, configFrom, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";
import { spawnChild, waitForOutput } from "./helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-audit-e2e-"));
const auditDir = join(dir, "audit-log");
const jwksFile = join(dir, "gateway-key", "jwks.json");
const CLI = `${ROOT}gateway/cli/main.ts`;
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 30_000 });
// Assembled, so that no scanner mistakes the fixture for a leaked credential.
const GITHUB_TOKEN = ["ghp", "_", "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"].join("");
const SECRET = "correct-horse-battery-staple";

function grants(demoTools: string[]) {
  return {
    gatehouse: {
      version: 1,
      settings: { destructiveScope: "tools:destructive", destructiveByDefault: false },
      agents: { demo: { groups: [], grants: [{ id: "demo-echo", servers: ["flaky"], tools: demoTools }] } },
      groups: {},
      redact: [{ servers: ["flaky"], tools: ["echo"], pointers: ["/request/arguments/secret"] }],
    },
  };
}

async function bundle(name: string, demoTools: string[]): Promise<string> {
  const dataFile = join(dir, `${name}-data.json`);
  writeFileSync(dataFile, JSON.stringify(grants(demoTools)));
  const out = join(dir, `${name}.tar.gz`);
  await buildWasmBundle({ opa: findOpa()!, paths: [`${ROOT}policies/authz.rego`, dataFile], out, revision: name });
  return out;
}

const token = (agent: string, scopes: string[] = []) => mintDevToken({ dataDir: dir, issuer: "gatehouse-dev", audience: "audit-test", agent, scopes, ttlSeconds: 600 });

let gw: RunningGateway;
let demo: Client;
let demoToken: string;
let gatewayYaml: (audit: string) => string;
const clients: Client[] = [];

async function records(filter: Parameters<typeof queryAudit>[1] = {}): Promise<AuditRecord[]> {
  await gw.gateway.auditLog!.flushNow();
  return (await queryAudit(auditDir, filter, { limit: 1_000 })).records;
}

beforeAll(async () => {
  const dev = await ensureDevIssuer(dir);
  const live = await bundle("live", ["echo", "slow"]);
  gatewayYaml = (audit: string) => `
dataDir: ${dir}
identity:
  audience: audit-test
  issuers: [{ name: dev, kind: static, issuer: gatehouse-dev, jwksFile: "${dev.jwksFile}" }]
policy: { bundle: "${live}" }
audit: { dir: "${auditDir}", checkpoint: { every: 5 }${audit} }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
`;
  gw = await startGateway(gatewayYaml(""));
  demoToken = await token("demo");
  demo = await connectClient(gw.url, "audit-client", {}, demoToken);
  clients.push(demo);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled(clients.map((c) => c.close()));
  await gw?.close();
});

describe("one record per decision", () => {
  it("an allowed call: who, what, the decision, the outcome; secrets redacted before they touch disk", async () => {
    const args = { text: `deploy with ${GITHUB_TOKEN}`, secret: SECRET };
    await demo.callTool({ name: "echo", arguments: args });
    const [record] = await records({ agent: "demo", method: "tools/call" });
    expect(record).toMatchObject({
      kind: "request",
      replica: expect.any(String),
      agent: { id: "demo", issuer: "dev", subject: "demo", claims: { iss: "gatehouse-dev", aud: "audit-test" } },
      session: { client: { name: "audit-client" }, protocol_version: "2025-11-25" },
      server: "flaky",
      tool: "echo",
      arguments: { text: "deploy with [REDACTED:github-token]", secret: "[REDACTED]" },
      args_sha256: sha256Hex(canonicalJson(args)),
      decision: { result: "allow", revision: "live", reasons: [expect.stringContaining("demo-echo")] },
      outcome: { status: "ok" },
    });
    expect(record!.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(record!.redacted?.pointers).toEqual(expect.arrayContaining(["/arguments/secret", "/arguments/text"]));
    expect(record!.redacted?.detectors).toContain("github-token");
    expect((record!.input?.request as Record<string, unknown>).arguments).toBeUndefined();
    expect((record!.input?.gateway as { replica: string }).replica).toBe(record!.replica);
    expect(record!.metrics.total_us).toBeGreaterThanOrEqual(record!.metrics.upstream_us!);
    expect(record!.metrics.upstream_us).toBeGreaterThan(0);
    expect(record!.bytes.in).toBeGreaterThan(50);
    expect(record!.bytes.out).toBeGreaterThan(20);
    expect(record!.trace_id).toMatch(/^[0-9a-f]{32}$/);
    const onDisk = readdirSync(auditDir).map((f) => readFileSync(join(auditDir, f), "utf8")).join("\n");
    expect(onDisk).not.toContain(GITHUB_TOKEN);
    expect(onDisk).not.toContain(SECRET);
  });

  it("a denial, an unknown tool and a schema failure are recorded with their codes", async () => {
    const stranger = await connectClient(gw.url, "stranger", {}, await token("stranger"));
    clients.push(stranger);
    await expect(stranger.callTool({ name: "echo", arguments: { text: "no" } })).rejects.toThrow(/-31020/);
    await expect(demo.callTool({ name: "no_such_tool", arguments: {} })).rejects.toThrow(/-32602/);
    const [denied] = await records({ agent: "stranger", method: "tools/call" });
    expect(denied).toMatchObject({ decision: { result: "deny" }, outcome: { status: "error", code: -31020 }, tool: "echo", server: "flaky" });
    expect(denied!.decision.reasons.length).toBeGreaterThan(0);
    const [unknown] = await records({ agent: "demo", tool: "no_such_tool" });
    expect(unknown).toMatchObject({ decision: { result: "none" }, outcome: { status: "error", code: -32602 } });
    expect(unknown!.server).toBeUndefined();
  });

  it("a refused token and a malformed body are recorded, never the token itself", async () => {
    const forged = `${demoToken.slice(0, -4)}AAAA`;
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream" };
    const bad = await fetch(gw.url, { method: "POST", headers: { ...headers, authorization: `Bearer ${forged}` }, body: "{}" });
    expect(bad.status).toBe(401);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const garbled = await fetch(gw.url, { method: "POST", headers: { ...headers, authorization: `Bearer ${demoToken}`, traceparent }, body: "{not json" });
    expect(garbled.status).toBe(400);
    const all = await records();
    const refused = all.filter((r) => r.kind === "auth-failure");
    expect(refused.at(-1)).toMatchObject({ decision: { result: "deny" }, outcome: { status: "error", http_status: 401 }, http: { method: "POST", path: "/mcp" } });
    expect(refused.at(-1)!.decision.reasons[0]).toMatch(/invalid_token/);
    const rejected = all.filter((r) => r.kind === "rejected").at(-1);
    expect(rejected).toMatchObject({ agent: { id: "demo" }, outcome: { code: -32700, http_status: 400 }, trace_id: "4bf92f3577b34da6a3ce929d0e0e4736" });
    const onDisk = readdirSync(auditDir).map((f) => readFileSync(join(auditDir, f), "utf8")).join("\n");
    expect(onDisk).not.toContain(forged.split(".")[2]!);
    expect(onDisk).not.toContain(demoToken.split(".")[2]!);
  });

  it("refusals decided by the transport guards are recorded: a bad protocol version, a GET that cannot stream", async () => {
    const auth = { authorization: `Bearer ${demoToken}` };
    const badVersion = await fetch(gw.url, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "1999-01-01" },
      body: "{}",
    });
    expect(badVersion.status).toBe(400);
    const noStream = await fetch(gw.url, { headers: { ...auth, accept: "application/json" } });
    expect(noStream.status).toBe(406);
    const refused = (await records({ agent: "demo" })).filter((r) => r.kind === "rejected").slice(-2);
    expect(refused.map((r) => [r.http?.method, r.outcome.http_status, r.decision.reasons[0]])).toEqual([
      ["POST", 400, expect.stringMatching(/^Bad Request: unsupported MCP-Protocol-Version "1999-01-01"/)],
      ["GET", 406, expect.stringMatching(/^Not Acceptable: GET \/mcp needs Accept: text\/event-stream/)],
    ]);
  });

  it("each request of a 2025-03-26 batch is recorded, a malformed item included", async () => {
    const headers = { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${demoToken}` };
    const init = await fetch(gw.url, {
      method: "POST",
      headers,
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-03-26", capabilities: {}, clientInfo: { name: "batcher", version: "1" } } }),
    });
    const session = init.headers.get("mcp-session-id")!;
    const batch = await fetch(gw.url, {
      method: "POST",
      headers: { ...headers, "mcp-session-id": session, "mcp-protocol-version": "2025-03-26" },
      body: JSON.stringify([{ jsonrpc: "2.0", id: 2, method: "ping" }, { jsonrpc: "2.0", id: 3 }]),
    });
    expect(batch.status).toBe(200);
    const mine = (await records({ agent: "demo" })).filter((r) => r.session?.id === session);
    // The items run concurrently, so their records may land in either order.
    expect(mine.map((r) => [r.kind, r.method ?? null, r.outcome.code ?? null]).sort()).toEqual([
      ["rejected", null, -32600],
      ["request", "initialize", null],
      ["request", "ping", null],
    ]);
  });

  it("the chain verifies against the gateway's published key", async () => {
    await gw.gateway.auditLog!.flushNow();
    const report = await verifyAuditDir(auditDir, JSON.parse(readFileSync(jwksFile, "utf8")).keys);
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.records).toBeGreaterThanOrEqual(6);
    expect(report.checkpoints).toBeGreaterThanOrEqual(1);
  });
});

describe("GET /admin/audit", () => {
  const adminUrl = () => gw.url.replace(/\/mcp$/, "/admin/audit");
  const get = async (query: string, bearer?: string) =>
    fetch(`${adminUrl()}${query}`, { headers: bearer === undefined ? {} : { authorization: `Bearer ${bearer}` } });

  it("serves auditors, refuses agents (403) and anonymous callers (401), and records each query", async () => {
    const auditor = await token("alice-auditor", ["audit:read"]);
    const ok = await get("?agent=demo&decision=allow", auditor);
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { records: AuditRecord[] };
    expect(body.records.length).toBeGreaterThan(0);
    expect(body.records.every((r) => r.agent?.id === "demo" && r.decision.result === "allow")).toBe(true);

    const agent = await get("", demoToken);
    expect(agent.status).toBe(403);
    expect(agent.headers.get("www-authenticate")).toMatch(/insufficient_scope.*scope="audit:read"/);
    expect((await get("")).status).toBe(401);
    const badParam = await get("?decision=maybe", auditor);
    expect(badParam.status).toBe(400);
    expect(((await badParam.json()) as { error_description: string }).error_description).toMatch(/decision must be one of/);

    const admin = await records({ method: "admin/audit" });
    expect(admin.map((r) => [r.agent?.id, r.decision.result, r.outcome.http_status])).toEqual(
      expect.arrayContaining([
        ["alice-auditor", "allow", 200],
        ["demo", "deny", 403],
        ["alice-auditor", "none", 400],
      ]),
    );
  });

  it("pages with a cursor: every record exactly once", async () => {
    const auditor = await token("alice-auditor", ["audit:read"]);
    for (let i = 0; i < 4; i++) await demo.callTool({ name: "echo", arguments: { text: `page ${i}` } });
    const expected = (await records({ agent: "demo" })).map((r) => r.seq);
    const seen: number[] = [];
    let cursor = "";
    for (let page = 0; page < 50; page++) {
      const res = await get(`?agent=demo&limit=2${cursor ? `&cursor=${cursor}` : ""}`, auditor);
      const body = (await res.json()) as { records: AuditRecord[]; nextCursor?: string };
      seen.push(...body.records.map((r) => r.seq));
      if (body.nextCursor === undefined) break;
      cursor = body.nextCursor;
    }
    expect(seen).toEqual(expected);
  });
});

describe("the CLI", () => {
  it("audit query --format csv prints a header and one row per record", () => {
    const out = cli("audit", "query", "--dir", auditDir, "--agent", "demo", "--method", "tools/call", "--format", "csv", "--limit", "1000");
    expect(out.status).toBe(0);
    const lines = out.stdout.trimEnd().split("\r\n");
    expect(lines[0]).toMatch(/^seq,timestamp,decision_id,kind,/);
    expect(lines.length).toBeGreaterThan(2);
    expect(lines.slice(1).every((l) => l.includes(",demo,") && l.includes(",tools/call,"))).toBe(true);
    expect(out.stdout).toContain('"{""text"":""page 0""}"');
  });

  it("audit verify passes on the log and names the first bad line of an edited copy", async () => {
    await gw.gateway.auditLog!.flushNow();
    const good = cli("audit", "verify", "--dir", auditDir, "--jwks", jwksFile);
    expect(good.stdout).toMatch(/^OK .* records/);
    expect(good.status).toBe(0);
    const copy = join(dir, "tampered");
    cpSync(auditDir, copy, { recursive: true });
    const segment = readdirSync(copy).filter((f) => f.endsWith(".jsonl") && f.startsWith("audit-")).sort()[0]!;
    const lines = readFileSync(join(copy, segment), "utf8").split("\n");
    lines[2] = lines[2]!.replace('"kind":"request"', '"kind":"reqvest"');
    writeFileSync(join(copy, segment), lines.join("\n"));
    const bad = cli("audit", "verify", "--dir", copy, "--jwks", jwksFile);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain(`FAIL ${join(copy, segment)}:3`);
    expect(bad.stdout).toMatch(/hash mismatch: the record was edited/);
  });

  it("audit tail -f prints records as they land", async () => {
    const tail = spawnChild(process.execPath, [CLI, "audit", "tail", "-f", "-n", "1", "--dir", auditDir, "--format", "json"]);
    try {
      await waitForOutput(tail, /"seq":\d+/, 10_000); // the last record: it is following now
      expect(tail.output()).not.toContain("tailed live");
      await demo.callTool({ name: "echo", arguments: { text: "tailed live" } });
      await waitForOutput(tail, /tailed live/, 10_000);
      const line = tail.output().split("\n").find((l) => l.includes("tailed live"))!;
      expect(JSON.parse(line)).toMatchObject({ agent: { id: "demo" }, tool: "echo" });
    } finally {
      await tail.stop();
    }
  });

  it("policy replay lists each decision a candidate bundle would change", async () => {
    const strict = await bundle("strict", ["slow"]);
    const out = cli("policy", "replay", "--bundle", strict, "--audit", auditDir, "--agent", "demo");
    expect(out.stderr).toBe("");
    expect(out.status).toBe(3);
    const allowed = (await records({ agent: "demo", method: "tools/call", decision: "allow" })).length;
    expect(out.stdout).toMatch(new RegExp(`${allowed} would change: ${allowed} allow->deny, 0 deny->allow`));
    expect(out.stdout).toMatch(/seq \d+ .* demo tools\/call flaky\/echo: allow -> deny \(input had redacted values\)/);
    const same = cli("policy", "replay", "--bundle", join(dir, "live.tar.gz"), "--audit", auditDir);
    expect(same.stdout).toMatch(/0 would change/);
    expect(same.status).toBe(0);
  });
});
describe("reload", () => {
  it("audit settings changed by a reload take effect on restart, as the gateway says: records keep the running ones", async () => {
    const before = (await records({ agent: "demo", method: "tools/call" })).at(-1)!;
    const reloaded = await gw.gateway.reload(configFrom(gatewayYaml(", arguments: omit, replica: renamed")));
    expect(reloaded.ok).toBe(true);
    await demo.callTool({ name: "echo", arguments: { text: "after reload" } });
    await gw.gateway.auditLog!.flushNow();
    const after = (await records({ agent: "demo", method: "tools/call" })).at(-1)!;
    expect(after.seq).toBeGreaterThan(before.seq);
    expect(after.arguments).toEqual({ text: "after reload" });
    expect(after.replica).toBe(before.replica);
    expect((after.input?.gateway as { replica: string }).replica).toBe(before.replica);
  });
});

it("the records survive the gateway's shutdown and the last checkpoint covers them all", async () => {
  await waitFor(() => (gw.gateway.auditLog!.stats().durableSeq > 0 ? true : undefined));
  await gw.close();
  const report = await verifyAuditDir(auditDir, JSON.parse(readFileSync(jwksFile, "utf8")).keys);
  expect(report.ok).toBe(true);
  expect(report.warnings.filter((w) => w.includes("after the last checkpoint"))).toEqual([]);
});
