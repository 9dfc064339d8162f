/**
 * Reload broadcasts between two real replicas sharing a real redis-server: a config reload (SIGHUP) on one replica,
 * and a new policy bundle that only one replica polls for, reach the other replica through Redis. The other replica
 * runs with `--no-watch` and an hour-long policy poll, so nothing else could explain its change.
 */
import { writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { buildTestBundle, startBundleServer, type BundleServer } from "../gateway/policy/testing.ts";
import { FLAKY, NOTES, waitFor } from "./helpers/gateway.ts";
import { startRedis, type RunningRedis } from "./helpers/redis.ts";
import { IDENTITY_YAML, startReplica, steeredClient, type Replica } from "./helpers/replicas.ts";

const dir = mkdtempSync(path.join(tmpdir(), "gatehouse-reload-"));
let redis: RunningRedis;
let bundles: BundleServer;
let leader: Replica;
let follower: Replica;
let client: Client;

const grants = (tools: string) => ({ grants: { pat: [{ server: "*", tool: tools }] } });
const configFor = (pollIntervalMs: number, withNotes: boolean) => `
listen: { host: 127.0.0.1, port: 0 }
dataDir: "\${REPLICA_DIR}/data"
${IDENTITY_YAML}
audit: { dir: "\${REPLICA_DIR}/audit", replica: "\${REPLICA}" }
state: { store: redis, redis: { url: "${redis.url}", keyPrefix: "reload:" } }
policy: { bundle: "${bundles.url}", pollIntervalMs: ${pollIntervalMs} }
naming: { prefix: always }
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
${withNotes ? `  - { name: notes, transport: stdio, command: node, args: ["${NOTES}"] }` : ""}
`;
const leaderFile = path.join(dir, "leader.yaml");
const followerFile = path.join(dir, "follower.yaml");

beforeAll(async () => {
  redis = await startRedis();
  bundles = await startBundleServer();
  await bundles.serveFile(await buildTestBundle({ dir, data: grants("*"), revision: "everything", name: "v1.tar.gz" }));
  writeFileSync(leaderFile, configFor(200, false));
  writeFileSync(followerFile, configFor(3_600_000, false));
  [leader, follower] = await Promise.all([
    startReplica("leader", "", ["--no-watch"], leaderFile),
    startReplica("follower", "", ["--no-watch"], followerFile),
  ]);
  ({ client } = await steeredClient(() => follower.url, "pat", "pat"));
});

afterAll(async () => {
  await client?.close().catch(() => {});
  await Promise.all([leader?.child.stop(), follower?.child.stop()]);
  await bundles?.close();
  await redis?.stop();
});

describe("reload broadcasts", () => {
  it("a config reloaded on one replica (SIGHUP) is reloaded by the other", async () => {
    const before = (await client.listTools()).tools.map((t) => t.name);
    expect(before.some((name) => name.startsWith("notes__"))).toBe(false);
    writeFileSync(leaderFile, configFor(200, true));
    writeFileSync(followerFile, configFor(3_600_000, true));
    leader.child.process.kill("SIGHUP");
    const after = await waitFor(async () => {
      const names = (await client.listTools()).tools.map((t) => t.name);
      return names.includes("notes__write_note") ? names : undefined;
    }, 15_000, "the follower to load the new server");
    expect(after).toContain("flaky__echo");
  });

  it("a policy bundle only the leader polls for is loaded by the follower at once", async () => {
    expect(JSON.stringify((await client.callTool({ name: "flaky__echo", arguments: { text: "allowed" } })).content)).toContain("allowed");
    await bundles.serveFile(await buildTestBundle({ dir, data: grants("whoami"), revision: "whoami-only", name: "v2.tar.gz" }));
    const denied = await waitFor(
      () => client.callTool({ name: "flaky__echo", arguments: { text: "again" } }).then(() => undefined, (error: { code?: number; message: string }) => error),
      15_000,
      "the follower to enforce the new policy",
    );
    expect(denied.code).toBe(-31020);
    expect(denied.message).toMatch(/Denied by policy/);
    expect((await client.callTool({ name: "flaky__whoami", arguments: {} })).isError).not.toBe(true);
  });
});
