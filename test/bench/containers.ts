/**
 * Container backends against the same server over stdio: cold start (spawn → initialized → catalog fetched) and
 * per-call latency, in-process through the upstream layer (no HTTP in front), so the difference is the container.
 * Both run the same bundle: servers/clock/dist/main.mjs over stdio, and the image `npm run servers:build` made of it.
 * `npm run bench` includes these rows (BENCH_CONTAINERS=0 leaves them out); `node test/bench/containers.ts` prints
 * just them.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseConfigText } from "../../gateway/config/index.ts";
import { createBackend, planContainers, type Backend } from "../../gateway/upstream/index.ts";
import { RecordingHooks } from "../../gateway/upstream/testing.ts";
import { configureLogging } from "../../gateway/log.ts";

export interface ContainerRow {
  metric: string;
  direct: string;
  gateway: string;
  ratio: string;
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const STARTS = Number(process.env.BENCH_CONTAINER_STARTS ?? 5);
const CALLS = Number(process.env.BENCH_CONTAINER_CALLS ?? 1_000);
const fmt = (n: number, digits = 0): string => n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
const percentile = (values: number[], p: number): number => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))] ?? NaN;


async function backends(): Promise<{ stdio: () => Backend; container: () => Backend }> {
  const dataDir = mkdtempSync(join(tmpdir(), "gatehouse-bench-containers-"));
  const text = `dataDir: ${dataDir}
servers:
  - { name: clock-stdio, transport: stdio, command: node, args: ["${ROOT}servers/clock/dist/main.mjs"] }
  - { name: clock-container, transport: container, image: localhost/gatehouse-clock:latest, pull: never, healthCheck: { intervalMs: 600000, timeoutMs: 5000 } }
`;
  const parsed = parseConfigText(text, { file: "<bench>", baseDir: ROOT });
  if (!parsed.ok) throw new Error(parsed.errors.join("\n"));
  const plan = await planContainers(parsed.config);
  if (plan.context?.runtime === undefined) throw new Error("no podman or docker: `npm run setup` installs podman");
  const [stdioConfig, containerConfig] = plan.servers;
  const options = { configDir: ROOT, containers: plan.context };
  return { stdio: () => createBackend(stdioConfig!, new RecordingHooks(), options), container: () => createBackend(containerConfig!, new RecordingHooks(), options) };
}

async function coldStartMs(make: () => Backend): Promise<number> {
  const backend = make();
  const started = performance.now();
  await backend.start();
  const elapsed = performance.now() - started;
  await backend.stop();
  return elapsed;
}

async function callLatencyUs(make: () => Backend): Promise<number[]> {
  const backend = make();
  await backend.start();
  const call = () => backend.request("tools/call", { name: "now", arguments: {} });
  for (let i = 0; i < 100; i++) await call();
  const samples: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const started = process.hrtime.bigint();
    await call();
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
  }
  await backend.stop();
  return samples;
}

export async function containerRows(): Promise<ContainerRow[]> {
  const { stdio, container } = await backends();
  // Interleaved, so that a noisy moment hits both sides alike.
  const stdioStarts: number[] = [];
  const containerStarts: number[] = [];
  for (let i = 0; i < STARTS; i++) {
    stdioStarts.push(await coldStartMs(stdio));
    containerStarts.push(await coldStartMs(container));
  }
  const stdioCalls = await callLatencyUs(stdio);
  const containerCalls = await callLatencyUs(container);
  const startRatio = median(containerStarts) / median(stdioStarts);
  return [
    {
      metric: `container cold start to ready, p50 of ${STARTS} (ms): stdio vs container`,
      direct: fmt(median(stdioStarts)),
      gateway: fmt(median(containerStarts)),
      ratio: `${fmt(startRatio, 1)}× (+${fmt(median(containerStarts) - median(stdioStarts))} ms)`,
    },
    {
      metric: `container per-call tools/call p50 / p99, ${CALLS} calls (µs): stdio vs container`,
      direct: `${fmt(percentile(stdioCalls, 0.5))} / ${fmt(percentile(stdioCalls, 0.99))}`,
      gateway: `${fmt(percentile(containerCalls, 0.5))} / ${fmt(percentile(containerCalls, 0.99))}`,
      ratio: `+${fmt(percentile(containerCalls, 0.5) - percentile(stdioCalls, 0.5))} µs p50`,
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  configureLogging({ level: process.env.GATEHOUSE_LOG_LEVEL ?? "warn" });
  const rows = await containerRows();
  process.stdout.write("| metric | stdio | container | delta |\n| --- | --- | --- | --- |\n");
  for (const row of rows) process.stdout.write(`| ${row.metric} | ${row.direct} | ${row.gateway} | ${row.ratio} |\n`);
}
