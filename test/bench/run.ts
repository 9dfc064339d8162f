/**
 * `npm run bench`: the gateway against a direct call to the same minimal upstream, in one run on one machine,
 * so that the ratios hold even when the machine is shared and noisy. Prints a markdown table.
 *
 * Processes: the upstream and the gateway each run as their own child process; the load generator runs here.
 * With two or more cores (and BENCH_PIN unset or 1), the gateway is pinned to its own core and the load generator
 * and upstream share another, in both the direct and the gateway run: the upstream and load generator get the
 * same CPU either way, and the ratio measures the gateway's own cost, as in a deployment where it has its core.
 *
 * A "passthrough" (test/bench/passthrough.ts: the least a Node process can do to relay MCP) runs beside the
 * gateway, on the gateway's core, as the floor: what one extra process hop costs here before any gateway logic.
 *
 * Each target gets the same warm-up under load (BENCH_WARMUP_SECONDS, default 2) before the latency samples, so
 * they measure steady-state code. Throughput runs in alternating 1 s rounds (direct, passthrough, gateway, and
 * again), so that a burst of machine noise lands on all three, and reports each serving process's CPU time per call
 * (from /proc), which noise moves far less than rps.
 *
 * The scale-out rows (test/bench/replicas.ts: two replicas sharing a real redis-server against one in memory;
 * BENCH_REPLICAS=0 leaves them out) follow the single-gateway rows.
 *
 * The container rows (test/bench/containers.ts: cold start and per-call latency of a container backend against the
 * same server over stdio; BENCH_CONTAINERS=0 leaves them out) come before the audit rows.
 *
 * The audit log's rows (test/bench/audit.ts, in-process on the load generator's core, in temp dirs) come last;
 * they take a minute or two (a 1,000,000-record log is generated and verified). BENCH_AUDIT=0 leaves them out.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnChild, waitForOutput, type Child } from "../helpers/processes.ts";
import { benchVerify, ensureDevIssuer, mintDevToken } from "../../gateway/identity/index.ts";
import { benchPolicy } from "../../gateway/policy/index.ts";
import { configureLogging } from "../../gateway/log.ts";
import { callBody, modernCallBody, modernCallHeaders, openSession, sampleLatency, sampleLatencyInterleaved, throughput, throughputRounds, type RoundStats } from "./load.ts";
import { auditRows } from "./audit.ts";
import { containerRows } from "./containers.ts";
import { replicaRows } from "./replicas.ts";

configureLogging({ level: process.env.GATEHOUSE_LOG_LEVEL ?? "warn" });
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SERVERS = 50;
const TOOLS = 40;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 2000);
const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 5000);
const PIN = process.env.BENCH_PIN !== "0" && availableParallelism() >= 2 && spawnSync("taskset", ["-V"]).status === 0;

/** Pins a process to one core; a no-op when pinning is off. */
function pin(pid: number, core: number): void {
  if (PIN) spawnSync("taskset", ["-a", "-cp", String(core), String(pid)], { stdio: "ignore" });
}

interface Row {
  metric: string;
  direct?: string;
  gateway: string;
  ratio?: string;
  target?: string;
  verdict?: string;
}

const rows: Row[] = [];
const children: Child[] = [];
const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

async function main(): Promise<void> {
  const upstream = spawnChild(process.execPath, [`${ROOT}test/bench/upstream.ts`, "--port", "0", "--servers", String(SERVERS), "--tools", String(TOOLS)]);
  children.push(upstream);
  pin(process.pid, 0);
  pin(upstream.process.pid!, 0);
  const base = (await waitForOutput(upstream, /(http:\/\/127\.0\.0\.1:\d+)/))[1]!;
  const direct = `${base}/s/0/mcp`;

  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-"));
  const config = join(dir, "bench.yaml");
  const servers = Array.from({ length: SERVERS }, (_, i) => `  - { name: s${i}, transport: http, url: "${base}/s/${i}/mcp" }`).join("\n");
  // The gateway verifies a real token on every request, as in production (the verified token is cached).
  const dev = await ensureDevIssuer(dir);
  const identity = `identity:\n  audience: bench\n  issuers:\n    - { name: dev, kind: static, issuer: gatehouse-dev, jwksFile: "${dev.jwksFile}" }\n`;
  // The main gateway audits with batched durability, so its rows show the request path without an fsync per call;
  // a second gateway with the default (sync) shows what waiting for the disk adds.
  const configText = (audit: string) => `dataDir: ${dir}\n${identity}http: { pageSize: 100, sessionIdleTimeoutMs: 3600000 }\naudit: ${audit}\nservers:\n${servers}\n`;
  writeFileSync(config, configText(`{ dir: "${join(dir, "audit-batched")}", durability: batched }`));
  const syncConfig = join(dir, "bench-sync.yaml");
  writeFileSync(syncConfig, configText(`{ dir: "${join(dir, "audit-sync")}", durability: sync }`));
  const token = await mintDevToken({ dataDir: dir, issuer: "gatehouse-dev", audience: "bench", agent: "bench-agent", scopes: [], ttlSeconds: 3600 });
  const gatewayChild = spawnChild(process.execPath, [`${ROOT}gateway/cli/main.ts`, "serve", "--config", config, "--port", "0"], {
    env: { GATEHOUSE_LOG_LEVEL: "warn" },
  });
  children.push(gatewayChild);
  pin(gatewayChild.process.pid!, 1);
  const gateway = (await waitForOutput(gatewayChild, /Gatehouse listening on (http:\/\/\S+)/, 60_000))[1]!;
  const passthroughChild = spawnChild(process.execPath, [`${ROOT}test/bench/passthrough.ts`, direct]);
  children.push(passthroughChild);
  pin(passthroughChild.process.pid!, 1);
  const passthrough = (await waitForOutput(passthroughChild, /passthrough (http:\/\/\S+)/))[1]!;

  // tools/call: latency (one connection, interleaved) and throughput (32 connections).
  const directHeaders = await openSession(direct);
  const gatewayHeaders = await openSession(gateway, "2025-11-25", token);
  const passthroughHeaders = await openSession(passthrough);
  // Warm-up under load first, the same for all three: the latency rows then measure compiled code in a steady
  // state, not V8's first tiers (which the small upstream and the passthrough leave far sooner than the gateway).
  for (const [url, headers, tool] of [[direct, directHeaders, "tool_0"], [passthrough, passthroughHeaders, "tool_0"], [gateway, gatewayHeaders, "s0__tool_0"]] as const) {
    await throughput(url, headers, callBody(tool), 32, WARMUP_SECONDS);
  }
  const [directLatency, passLatency, gatewayLatency] = await sampleLatencyInterleaved(
    [
      { url: direct, headers: directHeaders, body: (i) => callBody("tool_0", i) },
      { url: passthrough, headers: passthroughHeaders, body: (i) => callBody("tool_0", i) },
      { url: gateway, headers: gatewayHeaders, body: (i) => callBody("s0__tool_0", i) },
    ],
    SAMPLES,
  );
  const added = gatewayLatency!.p50us - directLatency!.p50us;
  rows.push({ metric: "tools/call p50 latency, 1 connection, audit batched (µs)", direct: fmt(directLatency!.p50us), gateway: fmt(gatewayLatency!.p50us), ratio: `+${fmt(added)} µs`, target: "added ≤ 100 µs", verdict: added <= 100 ? "ok" : "MISS" });
  rows.push({ metric: "  passthrough floor: p50 (µs), added vs direct", direct: "", gateway: fmt(passLatency!.p50us), ratio: `+${fmt(passLatency!.p50us - directLatency!.p50us)} µs` });
  rows.push({ metric: "  gateway's own share: p50 over passthrough (µs)", gateway: fmt(gatewayLatency!.p50us - passLatency!.p50us) });
  rows.push({ metric: "tools/call p99 latency, 1 connection (µs)", direct: fmt(directLatency!.p99us), gateway: fmt(gatewayLatency!.p99us), ratio: `+${fmt(gatewayLatency!.p99us - directLatency!.p99us)} µs` });

  // Alternating rounds of 1 s (BENCH_SECONDS of each in all), so that all see the same machine noise; the
  // 2026-07-28 stateless call on the same gateway is the fourth.
  const statelessHeaders = modernCallHeaders(token, "s0__tool_0");
  const [directRps, passRps, gatewayRps, statelessRps] = (await throughputRounds(
    [
      { url: direct, headers: directHeaders, body: callBody("tool_0"), pid: upstream.process.pid! },
      { url: passthrough, headers: passthroughHeaders, body: callBody("tool_0"), pid: passthroughChild.process.pid! },
      { url: gateway, headers: gatewayHeaders, body: callBody("s0__tool_0"), pid: gatewayChild.process.pid! },
      { url: gateway, headers: statelessHeaders, body: modernCallBody("s0__tool_0"), pid: gatewayChild.process.pid! },
    ],
    32,
    SECONDS,
    1,
  )) as [RoundStats, RoundStats, RoundStats, RoundStats];
  const ratio = gatewayRps.rps / directRps.rps;
  rows.push({ metric: "tools/call throughput, 32 connections (rps)", direct: fmt(directRps.rps), gateway: fmt(gatewayRps.rps), ratio: `${fmt(ratio, 2)}×`, target: "≥ 0.45×", verdict: ratio >= 0.45 ? "ok" : "MISS" });
  rows.push({ metric: "  passthrough floor (rps)", gateway: fmt(passRps.rps), ratio: `${fmt(passRps.rps / directRps.rps, 2)}×` });
  // CPU time per call of each serving process is steadier than rps on a shared machine: it is what the gateway
  // costs, whoever else is running.
  rows.push({
    metric: "CPU per tools/call at 32 connections (µs): the upstream serving direct vs the gateway process",
    direct: fmt(directRps.cpuMicrosPerCall),
    gateway: fmt(gatewayRps.cpuMicrosPerCall),
    ratio: `passthrough ${fmt(passRps.cpuMicrosPerCall)}`,
  });
  rows.push({ metric: "tools/call p99 under load (ms)", direct: fmt(directRps.p99ms, 1), gateway: fmt(gatewayRps.p99ms, 1) });
  for (const [label, stats] of [["direct", directRps], ["passthrough", passRps], ["gateway", gatewayRps]] as const) {
    if (stats.errors + stats.non2xx + stats.rpcErrors > 0) rows.push({ metric: `${label}: errors under load`, gateway: `${stats.errors} errors, ${stats.non2xx} non-2xx, ${stats.rpcErrors} JSON-RPC errors` });
  }

  // 2026-07-28 stateless tools/call (no session lookup, routed on Mcp-Method/Mcp-Name before the body is read)
  // beside the 2025 session path, on the same gateway, interleaved so both see the same noise.
  const [sessionLatency, statelessLatency] = await sampleLatencyInterleaved(
    [
      { url: gateway, headers: gatewayHeaders, body: (i) => callBody("s0__tool_0", i) },
      { url: gateway, headers: statelessHeaders, body: (i) => modernCallBody("s0__tool_0", i) },
    ],
    Math.min(SAMPLES, 2_000),
  );
  rows.push({ metric: "tools/call p50 / p99 latency, 1 connection: 2025 session vs 2026-07-28 stateless (µs)", direct: `${fmt(sessionLatency!.p50us)} / ${fmt(sessionLatency!.p99us)}`, gateway: `${fmt(statelessLatency!.p50us)} / ${fmt(statelessLatency!.p99us)}`, ratio: `${statelessLatency!.p50us >= sessionLatency!.p50us ? "+" : ""}${fmt(statelessLatency!.p50us - sessionLatency!.p50us)} µs p50` });
  rows.push({ metric: "tools/call throughput, 32 connections: 2025 session (direct column) vs 2026-07-28 stateless (rps)", direct: fmt(gatewayRps.rps), gateway: fmt(statelessRps.rps), ratio: `${fmt(statelessRps.rps / gatewayRps.rps, 2)}×` });
  if (statelessRps.errors + statelessRps.non2xx + statelessRps.rpcErrors > 0) {
    rows.push({ metric: "stateless: errors under load", gateway: `${statelessRps.errors} errors, ${statelessRps.non2xx} non-2xx, ${statelessRps.rpcErrors} JSON-RPC errors` });
  }

  // tools/list over 50 servers × 40 tools: the first page, and a full walk through the gateway's cursors.
  const listBody = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" });
  const firstPage = await sampleLatency(gateway, gatewayHeaders, () => listBody, 500, 50);
  rows.push({ metric: `tools/list first page (100 of ${SERVERS * TOOLS}) p50 / p99 (µs)`, gateway: `${fmt(firstPage.p50us)} / ${fmt(firstPage.p99us)}` });
  const walk = await fullWalk(gateway, gatewayHeaders, 50);
  rows.push({ metric: `tools/list all ${walk.tools} tools in ${walk.pages} pages, p50 (µs)`, gateway: fmt(walk.p50us) });

  // Token verification in-process (the load generator's core): a fresh token pays the signature check.
  const verify = await benchVerify();
  rows.push({ metric: "token verification, ES256, cold (µs p50)", gateway: fmt(verify.coldMicros, 1) });
  rows.push({ metric: "token verification, cached by token hash (µs p50)", gateway: fmt(verify.cachedMicros, 1) });

  // Policy evaluation in-process: the shipped Rego with 1,000 grants in data. The cost grows with the grants the
  // calling agent holds (about 4 µs each), so both a typical agent and a heavy one are shown.
  for (const [label, groupsPerAgent] of [["agent holds 6 grants", 0], ["agent holds 46 grants", 2]] as const) {
    const evaluation = await benchPolicy({ grants: 1000, groupsPerAgent });
    rows.push({
      metric: `policy evaluation, 1,000 grants, ${label} (µs p50 / p99)`,
      gateway: `${fmt(evaluation.p50Micros, 1)} / ${fmt(evaluation.p99Micros, 1)}`,
      target: "p99 ≤ 100 µs",
      verdict: evaluation.p99Micros <= 100 ? "ok" : "MISS",
    });
  }

  // A fresh gateway with the default audit durability (sync: fdatasync before each reply, group-committed).
  const fresh = spawnChild(process.execPath, [`${ROOT}gateway/cli/main.ts`, "serve", "--config", syncConfig, "--port", "0"], { env: { GATEHOUSE_LOG_LEVEL: "warn" } });
  children.push(fresh);
  pin(fresh.process.pid!, 1);
  const freshUrl = (await waitForOutput(fresh, /Gatehouse listening on (http:\/\/\S+)/, 60_000))[1]!;
  const syncHeaders = await openSession(freshUrl, "2025-11-25", token);
  const [directAgain, syncLatency] = await sampleLatencyInterleaved(
    [
      { url: direct, headers: directHeaders, body: (i) => callBody("tool_0", i) },
      { url: freshUrl, headers: syncHeaders, body: (i) => callBody("s0__tool_0", i) },
    ],
    Math.min(SAMPLES, 2_000),
  );
  rows.push({ metric: "tools/call p50 / p99 latency, 1 connection, audit sync (µs)", direct: `${fmt(directAgain!.p50us)} / ${fmt(directAgain!.p99us)}`, gateway: `${fmt(syncLatency!.p50us)} / ${fmt(syncLatency!.p99us)}`, ratio: `+${fmt(syncLatency!.p50us - directAgain!.p50us)} µs p50` });
  const syncRps = await throughput(freshUrl, syncHeaders, callBody("s0__tool_0"), 32, SECONDS);
  rows.push({ metric: "tools/call throughput, 32 connections, audit sync (rps)", direct: fmt(directRps.rps), gateway: fmt(syncRps.rps), ratio: `${fmt(syncRps.rps / directRps.rps, 2)}×` });

  // RSS per idle session, on that fresh gateway: the first one's heap has grown by the load tests.
  await openSessions(freshUrl, 100, 8, token); // warm the code paths so that the delta is sessions, not JIT and buffers
  await new Promise((r) => setTimeout(r, 500));
  const before = rssKiB(fresh.process.pid!);
  await openSessions(freshUrl, SESSIONS, 32, token);
  await new Promise((r) => setTimeout(r, 500));
  const after = rssKiB(fresh.process.pid!);
  rows.push({ metric: `RSS per idle session at ${SESSIONS} sessions (KiB)`, gateway: fmt((after - before) / SESSIONS, 2), target: "reported", verdict: `${fmt(before / 1024)} → ${fmt(after / 1024)} MiB` });

  // Scale-out: two replicas sharing Redis against one in memory, on the same core (BENCH_REPLICAS=0 leaves it out).
  if (process.env.BENCH_REPLICAS !== "0") {
    rows.push(...(await replicaRows({ upstream: direct, identityYaml: identity, token, seconds: SECONDS, connections: 32, pin, core: 1, otherCore: 0 })));
  }

  // Container backends against the same server over stdio (cold start, per-call), in-process.
  if (process.env.BENCH_CONTAINERS !== "0") rows.push(...(await containerRows()));

  // The audit log in-process: appends (sync, group commit, batched), then queries and verify over 1,000,000 records.
  if (process.env.BENCH_AUDIT !== "0") rows.push(...(await auditRows()));

  print();
}

async function fullWalk(url: string, headers: Record<string, string>, rounds: number): Promise<{ p50us: number; pages: number; tools: number }> {
  const times: number[] = [];
  let pages = 0;
  let tools = 0;
  for (let round = 0; round < rounds; round++) {
    const started = process.hrtime.bigint();
    let cursor: string | undefined;
    pages = 0;
    tools = 0;
    for (let page = 0; page < 1000; page++) {
      const response = await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", id: page, method: "tools/list", params: cursor ? { cursor } : {} }) });
      const body = (await response.json()) as { result: { tools: unknown[]; nextCursor?: string } };
      pages++;
      tools += body.result.tools.length;
      cursor = body.result.nextCursor;
      if (cursor === undefined) break;
    }
    times.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  times.sort((a, b) => a - b);
  return { p50us: times[Math.floor(times.length / 2)]!, pages, tools };
}

async function openSessions(url: string, count: number, concurrency: number, token: string): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await openSession(url, "2025-11-25", token);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

function print(): void {
  const header = ["metric", "direct", "gateway", "ratio / delta", "target", "verdict"];
  const lines = [header, header.map(() => "---"), ...rows.map((r) => [r.metric, r.direct ?? "", r.gateway, r.ratio ?? "", r.target ?? "", r.verdict ?? ""])];
  const pinning = PIN ? "gateway pinned to core 1; load generator and upstream share core 0" : "no CPU pinning";
  process.stdout.write(`\nGatehouse benchmark (${new Date().toISOString()}, node ${process.version}, ${SECONDS}s runs, ${pinning})\n\n`);
  for (const line of lines) process.stdout.write(`| ${line.join(" | ")} |\n`);
}

try {
  await main();
} finally {
  for (const child of children) await child.stop();
}
