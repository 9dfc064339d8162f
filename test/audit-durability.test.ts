/**
 * Durability of the audit log under `kill -9`: a real gateway process under load from real clients, killed
 * mid-stream. Every call the clients saw answered must be in the log, and the chain must still verify; a restart
 * on the same directory cuts a torn tail and carries the chain on. And a log that cannot write fails closed.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { queryAudit, verifyAuditDir, type AuditRecord } from "../gateway/audit/index.ts";
import { FLAKY, startGateway } from "./helpers/gateway.ts";
import { startGatehouseProcess, type Child } from "./helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-durability-"));
const auditDir = join(dir, "audit-log");
const configFile = join(dir, "gatehouse.yaml");
writeFileSync(
  configFile,
  `dataDir: ${dir}
audit: { dir: "${auditDir}", durability: sync, checkpoint: { every: 50 } }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
`,
);
const children: Child[] = [];
const CLIENTS = 8;
const MAX_CALLS_PER_CLIENT = 2_000;

afterAll(async () => {
  await Promise.allSettled(children.map((c) => c.stop("SIGKILL")));
});

async function allRecords(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 1_000; page++) {
    const result = await queryAudit(auditDir, { method: "tools/call" }, { limit: 1_000, cursor });
    out.push(...result.records);
    cursor = result.nextCursor;
    if (cursor === undefined) break;
  }
  return out;
}

const trustedKeys = () => JSON.parse(readFileSync(join(dir, "gateway-key", "jwks.json"), "utf8")).keys;

describe("kill -9 under load", () => {
  it("loses no record of any answered call, and the chain still verifies", async () => {
    const { url, child } = await startGatehouseProcess(["--config", configFile, "--insecure-no-auth"]);
    children.push(child);
    const answered = new Set<string>();
    let stop = false;
    const loops = Array.from({ length: CLIENTS }, async (_, c) => {
      const client = new Client({ name: `load-${c}`, version: "1" });
      await client.connect(new StreamableHTTPClientTransport(new URL(url)));
      for (let n = 0; n < MAX_CALLS_PER_CLIENT && !stop; n++) {
        const text = `c${c}-n${n}`;
        try {
          const result = await client.callTool({ name: "echo", arguments: { text } });
          if (JSON.stringify(result.content).includes(text)) answered.add(text);
        } catch {
          break; // the gateway is gone
        }
      }
      await client.close().catch(() => {});
    });
    // Kill once the load is well under way, not at a quiet moment.
    const deadline = Date.now() + 15_000;
    while (answered.size < 300 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.process.kill("SIGKILL");
    await new Promise((r) => child.process.once("exit", r));
    stop = true;
    await Promise.all(loops);
    expect(answered.size).toBeGreaterThanOrEqual(300);

    const logged = new Set((await allRecords()).filter((r) => r.outcome.status === "ok").map((r) => (r.arguments as { text: string }).text));
    const missing = [...answered].filter((text) => !logged.has(text));
    expect(missing).toEqual([]);
    const report = await verifyAuditDir(auditDir, trustedKeys());
    expect(report.problem).toBeUndefined();
    expect(report.ok).toBe(true);
  }, 60_000);

  it("a restart on the same directory carries the chain on", async () => {
    const before = await verifyAuditDir(auditDir, trustedKeys());
    const { url, child } = await startGatehouseProcess(["--config", configFile, "--insecure-no-auth"]);
    children.push(child);
    const client = new Client({ name: "after-restart", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    await client.callTool({ name: "echo", arguments: { text: "after restart" } });
    await client.close();
    expect(await child.stop("SIGTERM")).toBe(0);
    const after = await verifyAuditDir(auditDir, trustedKeys());
    expect(after.problem).toBeUndefined();
    expect(after.warnings.filter((w) => w.includes("torn"))).toEqual([]);
    expect(after.lastSeq).toBeGreaterThan(before.lastSeq);
    expect(after.segments).toBeGreaterThan(before.segments);
    const last = (await allRecords()).at(-1)!;
    expect(last.arguments).toEqual({ text: "after restart" });
  }, 60_000);
});

describe("a log that cannot write", () => {
  it("fails closed: the call whose record failed and every later one get -31030, and /readyz says why", async () => {
    const failDir = join(dir, "failing-audit");
    const gw = await startGateway(`
dataDir: ${dir}
audit: { dir: "${failDir}", segment: { maxBytes: 4096 } }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
`);
    const client = new Client({ name: "disk-gone", version: "1" });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(gw.url)));
      await client.callTool({ name: "echo", arguments: { text: "recorded" } });
      // The directory vanishes and a file takes its name: the next segment cannot be created.
      renameSync(failDir, `${failDir}.moved`);
      writeFileSync(failDir, "not a directory");
      const outcomes: string[] = [];
      for (let i = 0; i < 10 && !outcomes.some((o) => o.includes("-31030")); i++) {
        outcomes.push(await client.callTool({ name: "echo", arguments: { text: "x".repeat(2_000) } }).then(() => "ok", (e: Error) => e.message));
      }
      expect(outcomes.at(-1)).toMatch(/-31030.*audit log is unavailable/);
      await expect(client.callTool({ name: "echo", arguments: { text: "after" } })).rejects.toThrow(/-31030/);
      const ready = await fetch(gw.url.replace(/\/mcp$/, "/readyz"));
      expect(ready.status).toBe(503);
      expect(((await ready.json()) as { reason: string }).reason).toMatch(/^audit log unavailable: .*ENOTDIR/);
    } finally {
      await client.close().catch(() => {});
      await gw.close();
    }
  }, 60_000);
});
