/**
 * Test helpers for the audit log: a throwaway directory, a checkpoint signing key, entries, and readers for what
 * the writer left on disk. Used only by the tests beside this file.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from "jose";
import { expect } from "vitest";
import { GENESIS } from "./record.ts";
import type { CheckpointPayload, CheckpointSigner } from "./checkpoints.ts";
import { recomputeHash, sealRecord, type AuditEntry, type AuditRecord } from "./record.ts";
import { CHECKPOINTS_FILE, listSegments } from "./segments.ts";
import { AuditLog, type AuditLogOptions } from "./writer.ts";

export async function tempDir(prefix = "gatehouse-audit-"): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface TestKey {
  signer: CheckpointSigner;
  publicJwk: JWK;
}

export async function testKey(kid = "test-key"): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair("ES256", { extractable: true });
  return { signer: { kid, privateKey }, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256" } };
}

export function entry(overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    kind: "request",
    decision_id: "00000000-0000-4000-8000-000000000000",
    timestamp: "2026-11-22T10:00:00.000Z",
    replica: "test",
    agent: { id: "agent-a", issuer: "dev", subject: "a", scopes: [], claims: {} },
    method: "tools/call",
    server: "files",
    tool: "read_file",
    decision: { result: "allow", reasons: [] },
    outcome: { status: "ok" },
    metrics: { total_us: 10 },
    bytes: { in: 1, out: 2 },
    trace_id: "0".repeat(32),
    ...overrides,
  };
}

/** Entries `from`…`from + n - 1`, told apart by decision_id (all the same length, so lines are too, but for seq digits). */
export function entries(n: number, from = 1): AuditEntry[] {
  return Array.from({ length: n }, (_, i) => entry({ decision_id: `id-${String(from + i).padStart(4, "0")}` }));
}

/** One record line's size on disk (newline included); the lines of `entries()` are within a few bytes of it. */
export const LINE = sealRecord(entries(1, 10)[0]!, 10, GENESIS).line.length + 1;

export function openLog(dir: string, signer: CheckpointSigner, options: Partial<AuditLogOptions> = {}): Promise<AuditLog> {
  return AuditLog.open({
    dir,
    replica: "test",
    durability: "sync",
    batchWindowMs: 5,
    maxSegmentBytes: 1 << 20,
    maxSegmentAgeMs: 3_600_000,
    checkpointEvery: 1_000,
    checkpointIntervalMs: 3_600_000,
    retention: {},
    signer,
    sinks: [],
    ...options,
  });
}

/** Appends one at a time, each awaited: one batch per record, so rotation and checkpoints land predictably. */
export async function appendEach(log: AuditLog, entries: readonly AuditEntry[]): Promise<void> {
  for (const e of entries) await log.append(e);
}

export interface LineOnDisk {
  file: string;
  line: number;
  text: string;
  record: AuditRecord;
}

/** Every complete record line, in segment order. */
export async function recordsOnDisk(dir: string): Promise<LineOnDisk[]> {
  const out: LineOnDisk[] = [];
  for (const file of await listSegments(dir)) {
    const text = await readFile(path.join(dir, file), "utf8");
    const lines = text.split("\n");
    lines.pop(); // after the last newline: "" or a torn line
    lines.forEach((line, i) => out.push({ file, line: i + 1, text: line, record: JSON.parse(line) as AuditRecord }));
  }
  return out;
}

/** The chain invariants over records on disk: seq consecutive from `first`, prev links, hashes recompute. */
export function expectChain(lines: readonly LineOnDisk[], first: number, firstPrev = GENESIS): void {
  lines.forEach(({ record }, i) => {
    expect(record.seq).toBe(first + i);
    expect(record.prev).toBe(i === 0 ? firstPrev : lines[i - 1]!.record.hash);
    expect(recomputeHash(record as unknown as Record<string, unknown>)).toBe(record.hash);
  });
}

export async function checkpointLines(dir: string): Promise<string[]> {
  const text = await readFile(path.join(dir, CHECKPOINTS_FILE), "utf8").catch(() => "");
  return text.split("\n").filter((l) => l !== "");
}

/** Decodes without verifying: tests check signatures with verifyCheckpoints or compactVerify themselves. */
export function payloadOf(jws: string): CheckpointPayload {
  decodeProtectedHeader(jws);
  return JSON.parse(Buffer.from(jws.split(".")[1]!, "base64url").toString("utf8")) as CheckpointPayload;
}

export async function checkpointPayloads(dir: string): Promise<CheckpointPayload[]> {
  return (await checkpointLines(dir)).map(payloadOf);
}

/** Segment files' lines as arrays, for tampering: read, edit the array, write back. */
export async function segmentLines(dir: string, file: string): Promise<string[]> {
  const lines = (await readFile(path.join(dir, file), "utf8")).split("\n");
  lines.pop();
  return lines;
}
