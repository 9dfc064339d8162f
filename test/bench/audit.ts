/**
 * The audit log's own costs, in-process, in temp dirs: appends under `sync` (one at a time, and 64 appenders
 * sharing group commits) and `batched`, then queries and `verify` over a generated log of 1,000,000 records.
 * `npm run bench` includes these rows; `node test/bench/audit.ts` prints just them.
 *
 * Records are built with buildEntry from realistic RequestFacts (an identity, a tools/call with a few arguments,
 * a policy outcome and the input it saw). The generated log spans 10 simulated days (timestamps set here, rising)
 * and has an `error` decision in every segment, so a decision=error query cannot skip any segment.
 * BENCH_AUDIT_RECORDS scales the generated log (default 1,000,000).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuditLog, buildEntry, GENESIS, queryAudit, sealRecord, verifyAuditDir, type AuditEntry, type AuditFilter, type RequestFacts } from "../../gateway/audit/index.ts";
import { loadOrCreateGatewayKey, type AgentIdentity, type GatewayKey } from "../../gateway/identity/index.ts";
import type { PolicyEffect } from "../../gateway/policy/index.ts";
import { configureLogging } from "../../gateway/log.ts";

/** The same shape as run.ts's rows: the value goes in the `gateway` column. */
export interface AuditRow {
  metric: string;
  gateway: string;
  target?: string;
}

const RECORDS = Number(process.env.BENCH_AUDIT_RECORDS ?? 1_000_000);
const SPAN_MS = 10 * 86_400_000;
const START_MS = Date.parse("2026-11-01T00:00:00.000Z");
const AGENTS = 40;
const SERVERS = 10;
const TOOLS_PER_SERVER = 8;
/** One record in ERROR_EVERY is a policy error: about 0.05%, fewer than a query page (1,000), present in every segment. */
const ERROR_EVERY = 2_000;
const DENY_EVERY = 11;
const MiB = 1024 * 1024;

const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const nowUs = (): number => Number(process.hrtime.bigint()) / 1000;
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
const progress = (text: string): boolean => process.stderr.write(`[bench audit] ${text}\n`);

/** Memoized: in the gateway an identity is one object for a session's whole life (and the audit caches on it). */
const identities = new Map<number, { identity: AgentIdentity; inputIdentity: Omit<AgentIdentity, "expiresAt"> }>();

function identityOf(agent: number): { identity: AgentIdentity; inputIdentity: Omit<AgentIdentity, "expiresAt"> } {
  let known = identities.get(agent);
  if (known === undefined) {
    const identity = newIdentity(agent);
    const { expiresAt: _expiresAt, ...inputIdentity } = identity;
    known = { identity, inputIdentity };
    identities.set(agent, known);
  }
  return known;
}

function newIdentity(agent: number): AgentIdentity {
  const iat = Math.floor(START_MS / 1000);
  const agentId = `agent-${agent}`;
  const subject = `svc-agent-${agent}`;
  const claims = { iss: "https://login.example.com/", aud: "gatehouse", sub: subject, azp: agentId, jti: randomUUID(), iat, exp: iat + 3600, scope: "mcp:tools mcp:resources:read" };
  return { agentId, issuer: "corp-oidc", subject, scopes: ["mcp:tools", "mcp:resources:read"], claims, expiresAt: iat + 3600 };
}

/** One tools/call as the pipeline sees it when it is answered. */
function requestFacts(agent: number, server: number, tool: number, effect: PolicyEffect): RequestFacts {
  const { identity, inputIdentity } = identityOf(agent);
  const session = { id: randomUUID(), clientInfo: { name: "claude-code", version: "2.1.4" }, protocolVersion: "2025-11-25" };
  const request = { method: "tools/call", server: `s${server}`, tool: `tool_${tool}`, arguments: { path: `/srv/repo/src/module_${tool}.ts`, query: "status:open label:bug", limit: 50 } };
  const denied = effect === "deny" || effect === "dry-run-deny";
  return {
    kind: "request",
    identity,
    session,
    method: request.method,
    route: { server: request.server, tool: request.tool },
    arguments: request.arguments,
    policy: {
      outcome: {
        allow: effect === "allow" || effect === "dry-run-deny",
        reasons: denied ? [`no grant gives ${identity.agentId} ${request.server}/${request.tool}`] : effect === "error" ? ["policy evaluation exceeded its time budget"] : [],
        obligations: {},
        revision: "bundle-2026.11.20-3",
        effect,
        error: effect === "error" ? "evaluation took 12.4 ms, over the 10 ms budget" : undefined,
        evalMicros: 38,
      },
      input: {
        version: 1,
        identity: inputIdentity,
        request,
        tool: { annotations: { readOnlyHint: true }, hash: "9f2c1e0b7a4d" },
        session,
        time: { now_ns: START_MS * 1_000_000, rfc3339: new Date(START_MS).toISOString() },
        gateway: { version: "0.1.0", replica: "bench" },
      },
    },
    outcome: effect === "allow" ? { status: "ok", is_error: false } : { status: "error", code: -32003, message: "denied by policy" },
    timings: { totalUs: 1840, upstreamUs: 1210 },
    bytes: { in: 212, out: 1804 },
    traceId: randomUUID().replaceAll("-", ""),
    http: { method: "POST", path: "/mcp", remote: "10.0.3.17" },
  };
}

const SETTINGS = { replica: "bench", arguments: "redacted" } as const;
/** Prebuilt entries by decision: each record clones one with its own id and timestamp. */
const POOL = { allow: [] as AuditEntry[], deny: [] as AuditEntry[], error: [] as AuditEntry[] };
let buildMicros = NaN;

function buildPool(): void {
  const times: number[] = [];
  for (let i = 0; i < 1_000; i++) {
    const effect = i % 4 === 3 ? (i % 8 === 7 ? "error" : "deny") : "allow";
    const facts = requestFacts(i % AGENTS, (i * 7) % SERVERS, (i * 13) % TOOLS_PER_SERVER, effect);
    const started = nowUs();
    const entry = buildEntry(facts, SETTINGS);
    times.push(nowUs() - started);
    POOL[effect].push(entry);
  }
  buildMicros = percentile(times.sort((a, b) => a - b), 0.5);
}

/** Record number i of a generated log: mostly allows, every DENY_EVERY-th a deny, every ERROR_EVERY-th an error. */
function entryAt(i: number, timestampMs = Date.now()): AuditEntry {
  const pool = i % ERROR_EVERY === ERROR_EVERY / 2 ? POOL.error : i % DENY_EVERY === 0 ? POOL.deny : POOL.allow;
  return { ...pool[(i * 7_919) % pool.length]!, decision_id: randomUUID(), timestamp: new Date(timestampMs).toISOString() };
}

const dirs: string[] = [];
function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `gatehouse-bench-audit-${label}-`));
  dirs.push(dir);
  return dir;
}

function openLog(dir: string, key: GatewayKey, durability: "sync" | "batched"): Promise<AuditLog> {
  // The config's defaults (gateway/config/schema.ts): 100 ms window, 16 MiB / 1 h segments, a checkpoint per 1,000 records or 10 s.
  const defaults = { batchWindowMs: 100, maxSegmentBytes: 16 * MiB, maxSegmentAgeMs: 3_600_000, checkpointEvery: 1_000, checkpointIntervalMs: 10_000 };
  return AuditLog.open({ dir, replica: "bench", durability, ...defaults, retention: {}, signer: { kid: key.kid, privateKey: key.privateKey }, sinks: [] });
}

/**
 * Appends `count` records (batched), yielding between chunks. The writer rotates segments only between batches,
 * and appending this fast would make each window's batch tens of MB (segments far over 16 MiB), so the backlog is
 * flushed at ~4 MB: batches, and segment overshoot, stay small, as they are at a gateway's real rates.
 */
async function appendMany(auditLog: AuditLog, count: number, timestampOf?: (i: number) => number, callTimes?: number[]): Promise<void> {
  const chunk = 2_000;
  for (let start = 0; start < count; start += chunk) {
    for (let i = start; i < Math.min(count, start + chunk); i++) {
      const entry = entryAt(i, timestampOf?.(i));
      const started = callTimes === undefined ? 0 : nowUs();
      await auditLog.append(entry);
      if (callTimes !== undefined) callTimes.push(nowUs() - started);
    }
    await new Promise((resolve) => setImmediate(resolve));
    const stats = auditLog.stats();
    if (stats.appended - stats.durableSeq >= 2_000) await auditLog.flushNow();
    if (count >= 200_000 && (start + chunk) % 100_000 === 0) progress(`generated ${fmt(start + chunk)} of ${fmt(count)} records`);
  }
}

function diskBytes(dir: string): { bytes: number; segments: number } {
  const names = readdirSync(dir);
  return { bytes: names.reduce((sum, name) => sum + statSync(join(dir, name)).size, 0), segments: names.filter((n) => /^audit-\d+\.jsonl$/.test(n)).length };
}

async function benchSync(key: GatewayKey, rows: AuditRow[]): Promise<void> {
  // (a) One append at a time, each awaited: its latency includes its own fdatasync.
  const single = await openLog(tempDir("sync"), key, "sync");
  const times: number[] = [];
  const deadline = nowUs() + 5_000_000;
  for (let i = 0; i < 2_000 && nowUs() < deadline; i++) {
    const started = nowUs();
    await single.append(entryAt(i));
    times.push(nowUs() - started);
  }
  await single.close();
  times.sort((a, b) => a - b);
  rows.push({ metric: `audit append, sync, 1 appender (µs per record p50 / p99, ${fmt(times.length)} records)`, gateway: `${fmt(percentile(times, 0.5))} / ${fmt(percentile(times, 0.99))}` });

  // (b) 64 appenders at once: appends made while a write is in flight share its fdatasync (group commit).
  const grouped = await openLog(tempDir("group"), key, "sync");
  const appenders = 64;
  const perAppender = 200;
  let done = 0;
  const groupDeadline = nowUs() + 10_000_000;
  const started = nowUs();
  const appender = async (a: number): Promise<void> => {
    for (let i = 0; i < perAppender && nowUs() < groupDeadline; i++, done++) await grouped.append(entryAt(a * perAppender + i));
  };
  await Promise.all(Array.from({ length: appenders }, (_, a) => appender(a)));
  const elapsed = nowUs() - started;
  await grouped.close();
  rows.push({ metric: `audit append, sync, 64 appenders, group commit (µs per record amortized, ${fmt(done)} records)`, gateway: fmt(elapsed / done, 1) });
}

async function benchBatched(key: GatewayKey, rows: AuditRow[]): Promise<void> {
  const auditLog = await openLog(tempDir("batched"), key, "batched");
  const count = 50_000;
  const callTimes: number[] = [];
  const started = nowUs();
  await appendMany(auditLog, count, undefined, callTimes);
  await auditLog.flushNow();
  const elapsed = nowUs() - started;
  await auditLog.close();
  callTimes.sort((a, b) => a - b);
  rows.push({ metric: `audit append, batched: 100 ms window, flushed at 2,000 pending (µs per record amortized incl. flush, ${fmt(count)} records)`, gateway: fmt(elapsed / count, 1) });
  rows.push({ metric: "  batched: the append call itself, as the request path pays it (µs p50 / p99)", gateway: `${fmt(percentile(callTimes, 0.5), 1)} / ${fmt(percentile(callTimes, 0.99), 1)}` });
}

/** The fastest of `runs` runs, in ms (for queries: the log was just written, so its pages are cached in every run). */
async function bestOf<T>(runs: number, run: () => Promise<T>): Promise<{ result: T; ms: number }> {
  let best: { result: T; ms: number } | undefined;
  for (let i = 0; i < runs; i++) {
    const started = nowUs();
    const result = await run();
    const ms = (nowUs() - started) / 1000;
    if (best === undefined || ms < best.ms) best = { result, ms };
  }
  return best!;
}

async function benchLargeLog(key: GatewayKey, rows: AuditRow[]): Promise<void> {
  const dir = tempDir("large");
  const n = fmt(RECORDS);
  progress(`generating ${n} records (batched) in ${dir}`);
  const writer = await openLog(dir, key, "batched");
  const generation = await bestOf(1, async () => {
    await appendMany(writer, RECORDS, (i) => START_MS + Math.floor((i * SPAN_MS) / RECORDS));
    await writer.close();
  });
  const disk = diskBytes(dir);
  rows.push({ metric: `audit log of ${n} records over 10 days: generated through AuditLog, batched (s)`, gateway: fmt(generation.ms / 1000, 1) });
  rows.push({ metric: "  on disk: size (MiB), segments, bytes per record", gateway: `${fmt(disk.bytes / MiB)} MiB, ${disk.segments} segments, ${fmt(disk.bytes / RECORDS)} B` });

  // Queries as the admin API runs them: with the open writer's summaries (reopened here, as after a restart).
  const reader = await openLog(dir, key, "batched");
  const summaries = reader.summaries();
  const query = (filter: AuditFilter, cursor?: string) => queryAudit(dir, filter, { limit: 1_000, cursor, summaries });

  progress("query: decision=error (a full scan)");
  const fullRuns = RECORDS >= 500_000 ? 1 : 3;
  const full = await bestOf(fullRuns, () => query({ decision: "error" }));
  const scan = full.result.scanned;
  const fullScan = `${fmt(full.result.records.length)} found, ${scan.segments} segments read, ${scan.skipped} skipped, ${fmt(scan.lines)} lines`;
  rows.push({ metric: `audit query, decision=error over ${n} (full scan, page cache warm; ms${fullRuns > 1 ? " best of 3" : ""})`, gateway: `${fmt(full.ms)} ms: ${fullScan}` });

  progress("query: one hour inside the 10 days");
  const since = new Date(START_MS + 5 * 86_400_000 + 1_800_000).toISOString();
  const window: AuditFilter = { since, until: new Date(Date.parse(since) + 3_600_000).toISOString() };
  const first = await bestOf(3, () => query(window));
  const ws = first.result.scanned;
  const firstScan = `${ws.segments} segments read, ${ws.skipped} skipped (it stops at a full page), ${fmt(ws.lines)} lines`;
  rows.push({ metric: `audit query, 1 hour window over ${n} (first page of 1,000; ms best of 3)`, gateway: `${fmt(first.ms, 1)} ms: ${firstScan}` });
  const all = await bestOf(3, async () => {
    const total = { records: 0, pages: 0, segments: 0, skipped: 0, lines: 0 };
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const result = await query(window, cursor);
      total.records += result.records.length;
      total.pages++;
      total.segments += result.scanned.segments;
      total.skipped += result.scanned.skipped;
      total.lines += result.scanned.lines;
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    return total;
  });
  const t = all.result;
  rows.push({
    metric: "  1 hour window: every page (ms best of 3; segments and lines summed over the pages)",
    gateway: `${fmt(all.ms, 1)} ms: ${fmt(t.records)} records in ${t.pages} pages, ${t.segments} segments read, ${t.skipped} skipped, ${fmt(t.lines)} lines`,
  });
  await reader.close();

  progress(`verify: ${n} records`);
  const verified = await bestOf(1, () => verifyAuditDir(dir, [key.publicJwk]));
  const { ok, problem, records, checkpoints } = verified.result;
  const outcome = `${ok ? "ok" : `FAILED: ${problem?.reason}`}, ${fmt(records)} records, ${checkpoints} checkpoints`;
  rows.push({ metric: `gatehouse audit verify over ${n} records (s)`, gateway: `${fmt(verified.ms / 1000, 1)} s: ${outcome}` });
}

/** Runs every audit measurement; the temp dirs are removed whatever happens. */
export async function auditRows(): Promise<AuditRow[]> {
  const rows: AuditRow[] = [];
  try {
    const key = await loadOrCreateGatewayKey(tempDir("key"));
    buildPool();
    const line = sealRecord(buildEntry(requestFacts(1, 2, 3, "allow"), SETTINGS), 1, GENESIS).line;
    rows.push({ metric: `audit buildEntry, tools/call with its policy input: ~${fmt(Buffer.byteLength(line))} B lines (µs p50)`, gateway: fmt(buildMicros, 1) });
    await benchSync(key, rows);
    await benchBatched(key, rows);
    await benchLargeLog(key, rows);
  } finally {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.main) {
  configureLogging({ level: process.env.GATEHOUSE_LOG_LEVEL ?? "warn" });
  const started = Date.now();
  const rows = await auditRows();
  const header = ["metric", "direct", "gateway", "ratio / delta", "target", "verdict"];
  const lines = [header, header.map(() => "---"), ...rows.map((r) => [r.metric, "", r.gateway, "", r.target ?? "", ""])];
  process.stdout.write(`\nGatehouse audit benchmark (${new Date().toISOString()}, node ${process.version}, ${fmt((Date.now() - started) / 1000)} s)\n\n`);
  for (const line of lines) process.stdout.write(`| ${line.join(" | ")} |\n`);
}
