/**
 * The audit sinks through a real gateway: the Redis Stream sink against a real redis-server this test starts
 * (and stops, to show the gateway keeps answering and the file keeps the truth), and the stdout sink of a real
 * `gatehouse serve` process, whose stdout then carries only records.
 */
import { afterAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { queryAudit } from "../gateway/audit/index.ts";
import { FLAKY, connectClient, startGateway, waitFor } from "./helpers/gateway.ts";
import { spawnChild, waitForOutput, type Child } from "./helpers/processes.ts";
import { startRedis } from "./helpers/redis.ts";

const dir = mkdtempSync(join(tmpdir(), "gatehouse-sinks-"));
const cleanup: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

describe("Redis Stream sink", () => {
  it("XADDs each record as written to disk; while Redis is down calls still succeed and the file keeps every record", async () => {
    const redis = await startRedis();
    cleanup.push(() => redis.stop());
    const auditDir = join(dir, "redis-audit");
    const gw = await startGateway(`
dataDir: ${dir}
audit: { dir: "${auditDir}", sinks: { redis: { url: "${redis.url}", stream: "audit:test", maxLen: 10000 } } }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
`);
    cleanup.push(() => gw.close());
    const client = await connectClient(gw.url, "sink-client");
    cleanup.push(() => client.close());
    await client.callTool({ name: "echo", arguments: { text: "to redis" } });

    const reader = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await reader.connect();
    cleanup.push(() => reader.quit());
    const streamed = await waitFor(async () => {
      const entries = await reader.xrange("audit:test", "-", "+");
      const lines = entries.map(([, fields]) => fields[1]!);
      return lines.some((l) => l.includes("to redis")) ? lines : undefined;
    }, 10_000, "the record in the stream");
    const segments = readdirSync(auditDir).filter((f) => f.endsWith(".jsonl") && f.startsWith("audit-"));
    const onDisk = segments.flatMap((f) => readFileSync(join(auditDir, f), "utf8").split("\n")).filter((l) => l !== "");
    // Byte for byte the same lines, so a collector can verify hashes without the gateway's disk.
    expect(streamed).toEqual(onDisk);

    await redis.stop();
    await client.callTool({ name: "echo", arguments: { text: "while redis is away" } });
    await gw.gateway.auditLog!.flushNow();
    const kept = await queryAudit(auditDir, { method: "tools/call" }, { limit: 100 });
    expect(kept.records.map((r) => (r.arguments as { text: string }).text)).toEqual(["to redis", "while redis is away"]);
    const sink = Object.entries(gw.gateway.auditLog!.stats().sinks).find(([name]) => name.startsWith("redis"))![1];
    expect(sink.buffered).toBeGreaterThan(0);

    await redis.restart();
    await reader.connect().catch(() => {});
    await waitFor(async () => {
      const entries = await reader.xrange("audit:test", "-", "+").catch(() => []);
      return entries.some(([, fields]) => fields[1]!.includes("while redis is away")) ? true : undefined;
    }, 15_000, "the buffered record after Redis returned");
  }, 60_000);
});

describe("stdout sink", () => {
  let child: Child | undefined;
  afterAll(async () => {
    await child?.stop();
  });

  it("a serve process prints each record as one JSON line on stdout, and its operational logs on stderr", async () => {
    const config = join(dir, "stdout.yaml");
    writeFileSync(
      config,
      `dataDir: ${dir}\naudit: { dir: "${join(dir, "stdout-audit")}", sinks: { stdout: true } }\nservers:\n  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }\n`,
    );
    child = spawnChild(process.execPath, ["gateway/cli/main.ts", "serve", "--port", "0", "--config", config, "--insecure-no-auth"], { env: { GATEHOUSE_LOG_LEVEL: "info" } });
    let stdout = "";
    let stderr = "";
    child.process.stdout!.on("data", (d) => (stdout += d));
    child.process.stderr!.on("data", (d) => (stderr += d));
    const url = (await waitForOutput(child, /Gatehouse listening on (http:\/\/\S+)/))[1]!;
    const client = new Client({ name: "stdout-sink", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    await client.callTool({ name: "echo", arguments: { text: "shipped" } });
    await client.close();
    await waitFor(() => (stdout.includes("shipped") ? true : undefined), 10_000, "the record on stdout");
    const records = stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.length).toBeGreaterThanOrEqual(2);
    expect(records.every((r) => typeof r.hash === "string" && typeof r.seq === "number")).toBe(true);
    expect(records.some((r) => r.method === "tools/call" && r.tool === "echo")).toBe(true);
    // pino's lines (they carry "level") went to stderr.
    expect(stdout).not.toMatch(/"level":/);
    expect(stderr).toMatch(/"level":30.*audit log open/);
  }, 60_000);
});
