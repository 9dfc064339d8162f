/**
 * Policy through the running gateway, with real OPA-built WASM bundles of the shipped Rego (policies/authz.rego)
 * and test grants, driven by the SDK client: allow, deny, list filtering per agent, argument constraints, the
 * destructive-tool rule, dry-run, shadow disagreements, hot reload under load, and a corrupt bundle.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { ensureDevIssuer, mintDevToken } from "../gateway/identity/index.ts";
import { buildWasmBundle, findOpa } from "../gateway/policy/index.ts";
import { queryAudit } from "../gateway/audit/index.ts";
import { FLAKY, NOTES, ROOT, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-policy-"));
const clients: Client[] = [];
const running: RunningGateway[] = [];

function grants(extra: Record<string, unknown> = {}) {
  return {
    gatehouse: {
      version: 1,
      settings: { destructiveScope: "tools:destructive", destructiveByDefault: false },
      agents: {
        demo: { groups: [], grants: [{ id: "demo-default", servers: ["*"], tools: ["*"], resources: ["*"], prompts: ["*"] }] },
        analyst: { groups: [], grants: [{ id: "analyst-echo", servers: ["flaky"], tools: ["echo"], arguments: { text: { maxLength: 10 } } }] },
        ...extra,
      },
      groups: {},
      redact: [],
    },
  };
}

async function bundle(name: string, data: unknown, revision: string): Promise<string> {
  const dataFile = join(dir, `${name}-data.json`);
  writeFileSync(dataFile, JSON.stringify(data));
  const out = join(dir, `${name}.tar.gz`);
  await buildWasmBundle({ opa: findOpa()!, paths: [`${ROOT}policies/authz.rego`, dataFile], out, revision });
  return out;
}

const token = (agent: string, scopes: string[] = []) =>
  mintDevToken({ dataDir: dir, issuer: "gatehouse-dev", audience: "policy-test", agent, scopes, ttlSeconds: 600 });

async function gatewayWith(policy: string): Promise<RunningGateway> {
  const dev = await ensureDevIssuer(dir);
  const gw = await startGateway(`
dataDir: ${dir}
identity:
  audience: policy-test
  issuers: [{ name: dev, kind: static, issuer: gatehouse-dev, jwksFile: "${dev.jwksFile}" }]
${policy}
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
  - { name: notes, transport: stdio, command: node, args: ["${NOTES}"] }
`);
  running.push(gw);
  return gw;
}

async function clientFor(gw: RunningGateway, agent: string, scopes: string[] = []): Promise<Client> {
  const c = await connectClient(gw.url, agent, {}, await token(agent, scopes));
  clients.push(c);
  return c;
}

const names = async (c: Client) => (await c.listTools()).tools.map((t) => t.name);
const error = (p: Promise<unknown>) => p.then(() => undefined, (e: Error) => e.message);

let live: string;
let gw: RunningGateway;

beforeAll(async () => {
  live = join(dir, "live.tar.gz");
  renameSync(await bundle("first", grants(), "rev-1"), live);
  gw = await gatewayWith(`policy: { bundle: "${live}", pollIntervalMs: 200 }`);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  for (const g of running) await g.close();
});

describe("enforce", () => {
  it("demo sees and calls every tool except the destructive one, which it cannot call either", async () => {
    const demo = await clientFor(gw, "demo");
    const visible = await names(demo);
    expect(visible).toContain("flaky__echo");
    expect(visible).toContain("notes__write_note");
    expect(visible).not.toContain("notes__delete_note");
    const echo = await demo.callTool({ name: "flaky__echo", arguments: { text: "allowed" } });
    expect(JSON.stringify(echo.content)).toContain("allowed");
    const denied = await error(demo.callTool({ name: "notes__delete_note", arguments: { id: "x" } }));
    expect(denied).toMatch(/-31020.*Denied by policy: .*tools:destructive/);
  });

  it("the tools:destructive scope adds the destructive tool to the list and allows the call", async () => {
    const admin = await clientFor(gw, "demo", ["tools:destructive"]);
    expect(await names(admin)).toContain("notes__delete_note");
    await admin.callTool({ name: "notes__write_note", arguments: { id: "gone", text: "bye" } });
    const result = await admin.callTool({ name: "notes__delete_note", arguments: { id: "gone" } });
    expect(result.isError).not.toBe(true);
  });

  it("an agent with one grant sees exactly that tool, and its argument constraint is enforced", async () => {
    const analyst = await clientFor(gw, "analyst");
    expect(await names(analyst)).toEqual(["flaky__echo"]);
    const short = await analyst.callTool({ name: "flaky__echo", arguments: { text: "brief" } });
    expect(JSON.stringify(short.content)).toContain("brief");
    expect(await error(analyst.callTool({ name: "flaky__echo", arguments: { text: "far too long for the grant" } }))).toMatch(/Denied by policy/);
    expect(await error(analyst.callTool({ name: "notes__list_notes", arguments: {} }))).toMatch(/Denied by policy/);
  });

  it("an agent with no grant sees nothing and may call nothing", async () => {
    const stranger = await clientFor(gw, "stranger");
    expect(await names(stranger)).toEqual([]);
    expect((await stranger.listPrompts()).prompts).toEqual([]);
    expect(await error(stranger.callTool({ name: "flaky__echo", arguments: { text: "hi" } }))).toMatch(/-31020/);
  });
});

describe("modes", () => {
  it("dry-run records would-deny and lets the call through; denyAs unknown hides existence", async () => {
    const dryBundle = await bundle("dry", grants(), "rev-dry");
    const dry = await gatewayWith(`policy: { bundle: "${dryBundle}", mode: dry-run }`);
    const stranger = await clientFor(dry, "stranger");
    const result = await stranger.callTool({ name: "flaky__echo", arguments: { text: "let through" } });
    expect(JSON.stringify(result.content)).toContain("let through");
    expect(dry.gateway.policyRuntime!.stats().counters.dryRunDenies).toBeGreaterThan(0);
    const [record] = (await queryAudit(dry.gateway.auditLog!.dir, { agent: "stranger", method: "tools/call" }, { limit: 10 })).records;
    expect(record?.decision).toMatchObject({ result: "dry-run-deny", revision: "rev-dry" });
    expect(record?.decision.reasons.length).toBeGreaterThan(0);
    expect(record?.outcome.status).toBe("ok");

    const hidden = await gatewayWith(`policy: { bundle: "${dryBundle}", denyAs: unknown }`);
    const other = await clientFor(hidden, "stranger");
    expect(await error(other.callTool({ name: "flaky__echo", arguments: {} }))).toMatch(/-32602.*Unknown tool: flaky__echo/);
  });

  it("a shadow bundle is evaluated beside the live one and its disagreements are counted and recorded", async () => {
    const shadow = await bundle("shadow", grants({ stranger: { groups: [], grants: [{ id: "s", servers: ["flaky"], tools: ["echo"] }] } }), "rev-shadow");
    const liveBundle = await bundle("live-for-shadow", grants(), "rev-live");
    const both = await gatewayWith(`policy: { bundle: "${liveBundle}", shadow: "${shadow}" }`);
    const stranger = await clientFor(both, "stranger");
    expect(await error(stranger.callTool({ name: "flaky__echo", arguments: { text: "x" } }))).toMatch(/Denied by policy/);
    expect(both.gateway.policyRuntime!.stats().counters.shadowDisagreements).toBeGreaterThan(0);
    const [record] = (await queryAudit(both.gateway.auditLog!.dir, { agent: "stranger", method: "tools/call" }, { limit: 10 })).records;
    expect(record?.decision).toMatchObject({ result: "deny", revision: "rev-live", shadow: { allow: true, revision: "rev-shadow" } });
  });
});

describe("hot reload", () => {
  it("swaps bundles under continuous load with zero failed requests; a corrupt bundle keeps the old one serving", async () => {
    const demo = await clientFor(gw, "demo");
    const next = await bundle("second", grants(), "rev-2");
    let failures = 0;
    let calls = 0;
    const deadline = Date.now() + 4_000;
    const load = (async () => {
      while (Date.now() < deadline && calls < 2_000) {
        calls++;
        await demo.callTool({ name: "flaky__echo", arguments: { text: "load" } }).catch(() => failures++);
      }
    })();
    await new Promise((r) => setTimeout(r, 500));
    renameSync(next, live); // atomic replace, as deployments should
    await waitFor(() => (gw.gateway.policyRuntime!.engine.revision === "rev-2" ? true : undefined), 5_000, "revision rev-2");
    const rejectsBefore = gw.gateway.policyRuntime!.stats().rejects;
    writeFileSync(join(dir, "corrupt.tmp"), "this is not a bundle");
    renameSync(join(dir, "corrupt.tmp"), live);
    await waitFor(() => (gw.gateway.policyRuntime!.stats().rejects > rejectsBefore ? true : undefined), 5_000, "the corrupt bundle to be rejected");
    await load;
    expect(calls).toBeGreaterThan(20);
    expect(failures).toBe(0);
    expect(gw.gateway.policyRuntime!.engine.revision).toBe("rev-2");
    const ready = await fetch(gw.url.replace("/mcp", "/readyz"));
    expect(ready.status).toBe(200);
  }, 30_000);
});
