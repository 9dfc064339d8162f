/**
 * Micro-benchmark for `npm run bench`: engine.evaluate() of a typical tools/call input against a real
 * `opa build -t wasm` bundle whose data holds N grants. In-process, after warm-up; every answer is checked.
 *
 * Policies: "shipped" (the repo's policies/*.rego with data in its v1 layout: agents with own grants and
 * groups, server/tool globs, argument constraints, redaction rules), or two synthetic ones that isolate the
 * data layout: "list" (one flat array of {agent, server, tool} grants the policy scans, with glob.match) and
 * "indexed" (the same grants keyed by agent id).
 */
import { performance } from "node:perf_hooks";
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { readBundleFile } from "./bundle.ts";
import { PolicyEngine, preparePolicy } from "./engine.ts";
import { buildWasmBundle, findOpa, REPO_ROOT } from "./opa.ts";

type BenchPolicyKind = "shipped" | "list" | "indexed";

export interface PolicyBenchOptions {
  /** Grants in data. Default 1000. */
  grants?: number;
  /** Measured evaluations. Default 20000. */
  samples?: number;
  /** Default "shipped". */
  policy?: BenchPolicyKind;
  /** The shipped policy's directory. Default <repo>/policies. */
  policiesDir?: string;
  /** Shipped policy: how many groups (of 20 grants) each agent belongs to, besides its own 6 grants. Default 2. */
  groupsPerAgent?: number;
  /** The opa binary; default findOpa(). */
  opa?: string;
}

export interface PolicyBenchResult {
  p50Micros: number;
  p99Micros: number;
  maxMicros: number;
  /** Evaluations slower than the default 5 ms budget (they would have been denied). */
  overBudget: number;
  samples: number;
  grants: number;
  policy: BenchPolicyKind;
  /** The grants the benchmarked agent holds (its own and its groups'). */
  agentGrants: number;
}

const LIST_REGO = `package gatehouse.authz

default decision := {"allow": false, "reasons": ["no grant"], "obligations": {}}

decision := {"allow": true, "reasons": [], "obligations": {}} if {
	some grant in data.grants
	grant.agent == input.identity.agentId
	glob.match(grant.server, [], input.request.server)
	glob.match(grant.tool, [], input.request.tool)
	not input.tool.annotations.destructiveHint
}
`;

const INDEXED_REGO = LIST_REGO.replace(
  "some grant in data.grants\n\tgrant.agent == input.identity.agentId",
  "some grant in data.grants[input.identity.agentId]",
);

/**
 * The shipped policy's v1 data: 60% of the grants belong to agents (6 each), 40% to groups (20 each), and every
 * agent is in groupsPerAgent groups (default 2: the benchmarked agent holds 46 grants). Patterns mix "*", exact names, "prefix*" and "*suffix"; some grants carry argument
 * constraints and rate limits.
 */
function shippedData(grants: number, groupsPerAgent: number): { data: unknown; agentGrants: number } {
  const agentCount = Math.max(1, Math.floor((grants * 0.6) / 6));
  const groupCount = Math.max(1, Math.round((grants - agentCount * 6) / 20));
  const grant = (id: string, i: number): Record<string, unknown> => {
    const g: Record<string, unknown> = {
      id,
      servers: [i % 5 === 0 ? "*" : i % 5 === 1 ? "files" : `server-${i % 13}`],
      tools: [["read_*", `tool_${i}`, "*_file", "list_*", `exact_${i}`][i % 5]],
    };
    if (i % 4 === 0) g.arguments = { path: { pattern: "/srv/**", delimiters: ["/"], maxLength: 256, noTraversal: true } };
    if (i % 6 === 0) g.rateLimit = { perMinute: 60 + i };
    return g;
  };
  const agents: Record<string, unknown> = {};
  for (let a = 0; a < agentCount; a++) {
    const own = Array.from({ length: 6 }, (_, k) => grant(`agent-${a}-${k}`, a * 6 + k));
    const groups = [...new Set(Array.from({ length: groupsPerAgent }, (_, k) => `group-${(a + 7 * k) % groupCount}`))];
    agents[`agent-${a}`] = { groups, grants: own };
  }
  const groups: Record<string, unknown> = {};
  for (let g = 0; g < groupCount; g++) {
    groups[`group-${g}`] = { grants: Array.from({ length: 20 }, (_, k) => grant(`group-${g}-${k}`, 10_000 + g * 20 + k)) };
  }
  const benchAgent = 42 % agentCount;
  const benchGroups = new Set(Array.from({ length: groupsPerAgent }, (_, k) => (benchAgent + 7 * k) % groupCount));
  const agentGrants = 6 + 20 * benchGroups.size;
  const data = {
    gatehouse: {
      version: 1,
      settings: { destructiveScope: "tools:destructive", destructiveByDefault: false },
      agents,
      groups,
      redact: [{ pointers: ["/request/arguments/password", "/request/arguments/token"] }, { servers: ["files"], tools: ["write_*"], pointers: ["/request/arguments/content"] }],
    },
  };
  return { data, agentGrants };
}

function benchData(grants: number, layout: "list" | "indexed"): unknown {
  const list = Array.from({ length: grants }, (_, i) => ({
    agent: `agent-${i % 100}`,
    server: i % 7 === 4 ? "fil*" : `server-${i % 7}*`,
    tool: i % 3 === 0 ? "read_*" : `tool_${i}`,
  }));
  if (layout === "list") return { grants: list };
  const byAgent: Record<string, { server: string; tool: string }[]> = {};
  for (const { agent, server, tool } of list) (byAgent[agent] ??= []).push({ server, tool });
  return { grants: byAgent };
}

/**
 * agent-42 calls files/read_file. Synthetic policies: its only matching grant is i = 942 (942 % 100 = 42,
 * 942 % 7 = 4 → fil*, 942 % 3 = 0 → read_*), late in the list. Shipped policy: several of its 46 grants cover the call.
 */
function benchInput(): unknown {
  const now = Date.now();
  return {
    version: 1,
    identity: { agentId: "agent-42", issuer: "bench", subject: "agent-42", scopes: ["tools:call"], claims: { sub: "agent-42", aud: "gatehouse" } },
    request: { method: "tools/call", server: "files", tool: "read_file", arguments: { path: "/srv/data/report.csv", encoding: "utf8" } },
    tool: { annotations: { readOnlyHint: true }, hash: "sha256:5f2b9c" },
    session: { id: "9c1f6e0a4b7d2e8f", clientInfo: { name: "bench", version: "1.0.0" }, protocolVersion: "2025-11-25" },
    time: { now_ns: now * 1_000_000, rfc3339: new Date(now).toISOString() },
    gateway: { version: "0.1.0", replica: "bench" },
  };
}

export async function benchPolicy(options: PolicyBenchOptions = {}): Promise<PolicyBenchResult> {
  const grants = options.grants ?? 1000;
  const samples = options.samples ?? 20_000;
  const policy = options.policy ?? "shipped";
  const opa = options.opa ?? findOpa();
  if (opa === undefined) throw new Error("benchPolicy needs the opa binary (.tools/bin/opa): run `npm run setup`");
  const dir = await mkdtemp(path.join(tmpdir(), "gatehouse-bench-policy-"));
  try {
    const src = path.join(dir, "src");
    await mkdir(src);
    let agentGrants = 10;
    let capabilities: string | undefined;
    if (policy === "shipped") {
      const policiesDir = options.policiesDir ?? path.join(REPO_ROOT, "policies");
      const rego = (await readdir(policiesDir)).filter((name) => name.endsWith(".rego") && !name.endsWith("_test.rego"));
      if (rego.length === 0) throw new Error(`benchPolicy: no policy (.rego) in ${policiesDir}`);
      for (const name of rego) await copyFile(path.join(policiesDir, name), path.join(src, name));
      const shipped = shippedData(grants, options.groupsPerAgent ?? 2);
      agentGrants = shipped.agentGrants;
      await writeFile(path.join(src, "data.json"), JSON.stringify(shipped.data));
      capabilities = path.join(policiesDir, "capabilities.json");
    } else {
      await writeFile(path.join(src, "policy.rego"), policy === "list" ? LIST_REGO : INDEXED_REGO);
      await writeFile(path.join(src, "data.json"), JSON.stringify(benchData(grants, policy)));
    }
    const out = path.join(dir, "bundle.tar.gz");
    await buildWasmBundle({ opa, paths: ["."], cwd: src, out, bundleMode: true, revision: `bench-${grants}`, capabilities });
    const input = benchInput();
    const engine = new PolicyEngine({ timeBudgetMs: 1_000 });
    engine.swap(await preparePolicy(await readBundleFile(out), { warmupInputs: [input] }));

    const check = engine.evaluate(input);
    if (check.effect !== "allow") throw new Error(`bench policy did not allow: ${JSON.stringify(check)}`);
    for (let i = 0; i < 2_000; i++) engine.evaluate(input);
    const times = new Float64Array(samples);
    for (let i = 0; i < samples; i++) {
      const start = performance.now();
      const outcome = engine.evaluate(input);
      times[i] = (performance.now() - start) * 1000;
      if (!outcome.allow) throw new Error(`bench evaluation ${i} did not allow: ${outcome.error ?? outcome.reasons.join("; ")}`);
    }
    times.sort();
    const at = (q: number): number => round(times[Math.min(samples - 1, Math.floor(q * samples))] ?? Number.NaN);
    const overBudget = times.filter((micros) => micros > 5_000).length;
    return { p50Micros: at(0.5), p99Micros: at(0.99), maxMicros: round(times[samples - 1] ?? Number.NaN), overBudget, samples, grants, policy, agentGrants };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
