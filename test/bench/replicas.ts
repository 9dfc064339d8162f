/**
 * Scale-out rows: tools/call throughput through two replicas sharing Redis (one session, its requests spread over
 * both, as a Service without sticky sessions would) against one replica with its state in memory, each with and
 * without a rate limit (one Lua call to Redis per request). All gateways get the same one core (`core`), so the
 * ratio is the cost of sharing state, not extra CPU; Redis, the upstream and the load generator share the other.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawnChild, waitForOutput, type Child } from "../helpers/processes.ts";
import { startRedis } from "../helpers/redis.ts";
import { callBody, openSession, throughput, type ThroughputStats } from "./load.ts";

export interface ReplicaRow {
  metric: string;
  direct: string;
  gateway: string;
  ratio: string;
}

export interface ReplicaBenchOptions {
  /** The bench upstream's server 0 (http URL). */
  upstream: string;
  /** The identity section (the bench's dev issuer) and a token it accepts. */
  identityYaml: string;
  token: string;
  seconds: number;
  connections: number;
  /** Pins a process to a core (a no-op without pinning); gateways go to `core`, redis-server to `otherCore`. */
  pin: (pid: number, core: number) => void;
  core: number;
  otherCore: number;
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
// Generous enough never to refuse in a 5 s run: the row measures the bucket's cost, not its refusals.
const RATE_LIMITS = "rateLimits: { perAgentTool: { perMinute: 100000000, burst: 100000000 } }";

export async function replicaRows(options: ReplicaBenchOptions): Promise<ReplicaRow[]> {
  const redis = await startRedis();
  const children: Child[] = [];
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-replicas-"));
  const start = async (name: string, state: string, limits: boolean): Promise<string> => {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      `dataDir: ${join(dir, name)}\n${options.identityYaml}\nnaming: { prefix: always }\nhttp: { sessionIdleTimeoutMs: 3600000 }\naudit: { dir: "${join(dir, name, "audit")}", durability: batched }\n` +
        `state: ${state}\n${limits ? RATE_LIMITS : ""}\nservers:\n  - { name: s0, transport: http, url: "${options.upstream}" }\n`,
    );
    const child = spawnChild(process.execPath, [`${ROOT}gateway/cli/main.ts`, "serve", "--config", file, "--port", "0"], { env: { GATEHOUSE_LOG_LEVEL: "warn" } });
    children.push(child);
    options.pin(child.process.pid!, options.core);
    return (await waitForOutput(child, /Gatehouse listening on (http:\/\/\S+)/, 60_000))[1]!;
  };
  try {
    if (redis.pid !== undefined) options.pin(redis.pid, options.otherCore);
    const shared = `{ store: redis, redis: { url: "${redis.url}", keyPrefix: "bench:" } }`;
    const rows: ReplicaRow[] = [];
    for (const limits of [false, true]) {
      const single = await start(`memory${limits ? "-limits" : ""}`, "{ store: memory }", limits);
      const [a, b] = await Promise.all([start(`a${limits ? "-limits" : ""}`, shared, limits), start(`b${limits ? "-limits" : ""}`, shared, limits)]);
      const one = await throughputOver([single], options);
      const two = await throughputOver([a, b], options);
      const label = limits ? ", rate limit per agent+tool" : "";
      rows.push({ metric: `tools/call throughput, 1 replica in memory vs 2 replicas sharing Redis${label} (rps)`, direct: fmt(one.rps), gateway: fmt(two.rps), ratio: `${fmt(two.rps / one.rps, 2)}×` });
      rows.push({ metric: `  p99 under load, same runs${label} (ms)`, direct: fmt(one.p99ms, 1), gateway: fmt(two.p99ms, 1), ratio: errorsOf(one, two) });
    }
    return rows;
  } finally {
    for (const child of children) await child.stop();
    await redis.stop();
  }
}

/** One session, opened on the first replica; the load is split evenly over all of them, concurrently. */
async function throughputOver(urls: string[], options: ReplicaBenchOptions): Promise<ThroughputStats> {
  const headers = await openSession(urls[0]!, "2025-11-25", options.token);
  const per = Math.max(1, Math.floor(options.connections / urls.length));
  // Every replica has served the session once before the clock starts (the first request on B loads the record).
  for (const url of urls) await fetch(url, { method: "POST", headers, body: callBody("s0__tool_0") });
  const results = await Promise.all(urls.map((url) => throughput(url, headers, callBody("s0__tool_0"), per, options.seconds)));
  return {
    rps: results.reduce((sum, r) => sum + r.rps, 0),
    requests: results.reduce((sum, r) => sum + r.requests, 0),
    seconds: Math.max(...results.map((r) => r.seconds)),
    p50ms: Math.max(...results.map((r) => r.p50ms)),
    p99ms: Math.max(...results.map((r) => r.p99ms)),
    errors: results.reduce((sum, r) => sum + r.errors, 0),
    non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
    rpcErrors: results.reduce((sum, r) => sum + r.rpcErrors, 0),
  };
}

function errorsOf(...runs: ThroughputStats[]): string {
  const failed = runs.reduce((sum, r) => sum + r.errors + r.non2xx + r.rpcErrors, 0);
  return failed === 0 ? "no errors" : `${failed} errors or refusals`;
}
