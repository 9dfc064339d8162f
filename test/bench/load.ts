/**
 * Load generation for the benchmarks: an MCP session handshake, a sequential latency sampler (one connection,
 * hrtime per request), autocannon for throughput (alone, or in alternating rounds) and a process's CPU time from
 * /proc. Every run is bounded by a count or a duration.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import { Pool } from "undici";

export const MCP_HEADERS = { "content-type": "application/json", accept: "application/json, text/event-stream" } as const;

export async function openSession(url: string, protocolVersion = "2025-11-25", token?: string): Promise<Record<string, string>> {
  const auth: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  const response = await fetch(url, {
    method: "POST",
    headers: { ...MCP_HEADERS, ...auth },
    body: JSON.stringify({ jsonrpc: "2.0", id: 0, method: "initialize", params: { protocolVersion, capabilities: {}, clientInfo: { name: "bench", version: "1" } } }),
  });
  if (response.status !== 200) throw new Error(`initialize at ${url} answered ${response.status}: ${await response.text()}`);
  await response.text();
  const session = response.headers.get("mcp-session-id");
  const headers: Record<string, string> = { ...MCP_HEADERS, ...auth, "mcp-protocol-version": protocolVersion };
  if (session) headers["mcp-session-id"] = session;
  await fetch(url, { method: "POST", headers, body: JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }) }).then((r) => r.text());
  return headers;
}

export interface LatencyStats {
  p50us: number;
  p99us: number;
  count: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;
}

/** One keep-alive connection, one request at a time: the latency a single agent sees. */
export async function sampleLatency(url: string, headers: Record<string, string>, body: (i: number) => string, count: number, warmup = 200): Promise<LatencyStats> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 1, pipelining: 1 });
  const samples: number[] = [];
  try {
    for (let i = 0; i < warmup + count; i++) {
      const started = process.hrtime.bigint();
      const response = await pool.request({ method: "POST", path: target.pathname, headers, body: body(i) });
      const text = await response.body.text();
      const elapsed = Number(process.hrtime.bigint() - started) / 1000;
      if (response.statusCode !== 200 || !text.includes('"result"')) throw new Error(`bad answer ${response.statusCode}: ${text.slice(0, 200)}`);
      if (i >= warmup) samples.push(elapsed);
    }
  } finally {
    await pool.close();
  }
  samples.sort((a, b) => a - b);
  return { p50us: percentile(samples, 0.5), p99us: percentile(samples, 0.99), count: samples.length };
}

/**
 * Round-robin over several targets, one request each per round, so that every target sees the same moments of
 * machine noise: on a shared machine this is what makes their latencies comparable.
 */
export async function sampleLatencyInterleaved(
  targets: Array<{ url: string; headers: Record<string, string>; body: (i: number) => string }>,
  count: number,
  warmup = 200,
): Promise<LatencyStats[]> {
  const pools = targets.map((t) => new Pool(new URL(t.url).origin, { connections: 1, pipelining: 1 }));
  const samples: number[][] = targets.map(() => []);
  try {
    for (let i = 0; i < warmup + count; i++) {
      for (let k = 0; k < targets.length; k++) {
        const target = targets[k]!;
        const started = process.hrtime.bigint();
        const response = await pools[k]!.request({ method: "POST", path: new URL(target.url).pathname, headers: target.headers, body: target.body(i) });
        const text = await response.body.text();
        const elapsed = Number(process.hrtime.bigint() - started) / 1000;
        if (response.statusCode !== 200 || !text.includes('"result"')) throw new Error(`bad answer from ${target.url}: ${response.statusCode} ${text.slice(0, 200)}`);
        if (i >= warmup) samples[k]!.push(elapsed);
      }
    }
  } finally {
    await Promise.all(pools.map((p) => p.close()));
  }
  return samples.map((list) => {
    list.sort((a, b) => a - b);
    return { p50us: percentile(list, 0.5), p99us: percentile(list, 0.99), count: list.length };
  });
}

export interface ThroughputStats {
  rps: number;
  /** Answers counted, and the seconds they took: rounds add up by these. */
  requests: number;
  seconds: number;
  p50ms: number;
  p99ms: number;
  errors: number;
  non2xx: number;
  /** 200 answers that were not a JSON-RPC result (an error object inside a 200). */
  rpcErrors: number;
}

export function throughput(url: string, headers: Record<string, string>, body: string, connections: number, seconds: number): Promise<ThroughputStats> {
  return new Promise((resolve, reject) => {
    // Every request gets its own JSON-RPC id ("[<id>]" in the body): concurrent requests on one session must not
    // share one, or the gateway rightly refuses all but the first with -32600 and the run measures refusals.
    const unique = body.replace(/"id":\s*\d+/, '"id":"[<id>]"');
    const options = { url, method: "POST" as const, headers, body: unique, connections, duration: seconds, pipelining: 1, idReplacement: true, verifyBody: (text: string) => text.includes('"result"') };
    autocannon(options as autocannon.Options, (error: Error | null, result: any) => {
      if (error) return reject(error);
      resolve({
        rps: result.requests.average,
        requests: result.requests.total,
        seconds: result.duration,
        p50ms: result.latency.p50,
        p99ms: result.latency.p99,
        errors: result.errors,
        non2xx: result.non2xx,
        rpcErrors: result.mismatches ?? 0,
      });
    });
  });
}

export type RoundStats = ThroughputStats & { cpuMicrosPerCall: number };

export interface LoadTarget {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** The serving process, whose CPU time per call is reported. */
  pid: number;
}

/**
 * Throughput of several targets in alternating rounds (A, B, C, A, B, C, …), so that a burst of machine noise lands
 * on all of them rather than on whichever ran then: their ratios are what a shared, noisy machine can still show.
 * rps is all answers over all seconds; p50/p99 are the median of the rounds'; `cpuMicrosPerCall` is the serving
 * process's CPU time (user + system, from /proc) over the answers.
 */
export async function throughputRounds(targets: LoadTarget[], connections: number, rounds: number, secondsPerRound: number): Promise<RoundStats[]> {
  const runs: ThroughputStats[][] = targets.map(() => []);
  const cpu = targets.map(() => 0);
  for (let round = 0; round < rounds; round++) {
    for (const [k, target] of targets.entries()) {
      const before = processCpuMicros(target.pid);
      runs[k]!.push(await throughput(target.url, target.headers, target.body, connections, secondsPerRound));
      cpu[k]! += processCpuMicros(target.pid) - before;
    }
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  return runs.map((list, k) => {
    const requests = list.reduce((sum, r) => sum + r.requests, 0);
    const seconds = list.reduce((sum, r) => sum + r.seconds, 0);
    return {
      rps: requests / seconds,
      requests,
      seconds,
      p50ms: median(list.map((r) => r.p50ms)),
      p99ms: median(list.map((r) => r.p99ms)),
      errors: list.reduce((sum, r) => sum + r.errors, 0),
      non2xx: list.reduce((sum, r) => sum + r.non2xx, 0),
      rpcErrors: list.reduce((sum, r) => sum + r.rpcErrors, 0),
      cpuMicrosPerCall: cpu[k]! / Math.max(1, requests),
    };
  });
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout?.trim()) || 100;

/** CPU time (user + system) a process has used so far, in µs, from /proc (clock-tick resolution). */
export function processCpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / CLOCK_TICKS_PER_SECOND;
}

export function callBody(tool: string, i = 1): string {
  return JSON.stringify({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: tool, arguments: { text: "hello" } } });
}

/** The headers a 2026-07-28 client sends for tools/call of `tool`: no session, routed on Mcp-Method and Mcp-Name. */
export function modernCallHeaders(token: string, tool: string): Record<string, string> {
  return { ...MCP_HEADERS, authorization: `Bearer ${token}`, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": tool };
}

const MODERN_META = {
  "io.modelcontextprotocol/protocolVersion": "2026-07-28",
  "io.modelcontextprotocol/clientInfo": { name: "bench", version: "1" },
  "io.modelcontextprotocol/clientCapabilities": {},
};

export function modernCallBody(tool: string, i = 1): string {
  return JSON.stringify({ jsonrpc: "2.0", id: i, method: "tools/call", params: { name: tool, arguments: { text: "hello" }, _meta: MODERN_META } });
}
