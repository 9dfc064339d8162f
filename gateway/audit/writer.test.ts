import { hostname } from "node:os";
import { spawnSync } from "node:child_process";
import { appendFile, copyFile, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { verifyCheckpoints } from "./checkpoints.ts";
import { listSegments, segmentName, summaryName, type SegmentSummary } from "./segments.ts";
import { appendEach, checkpointLines, checkpointPayloads, entries, entry, expectChain, LINE, openLog, recordsOnDisk, tempDir, testKey, type TestKey } from "./testing.ts";
import { verifyAuditDir } from "./verify.ts";
import { AuditUnavailableError, type AuditLog } from "./writer.ts";
import type { AuditSink } from "./sink.ts";

let key: TestKey;
beforeAll(async () => {
  key = await testKey();
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function scratch(): Promise<string> {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  return dir;
}

async function open(dir: string, options: Parameters<typeof openLog>[2] = {}): Promise<AuditLog> {
  const log = await openLog(dir, key.signer, options);
  cleanups.push(() => log.close());
  return log;
}

const id = (i: number) => entries(1, i)[0]!.decision_id;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("durability", () => {
  it("sync: each append resolves only once its line is in the file", async () => {
    const dir = await scratch();
    const log = await open(dir);
    for (let i = 1; i <= 5; i++) {
      await log.append(entry({ decision_id: id(i) }));
      const lines = await recordsOnDisk(dir);
      expect(lines.map((l) => l.record.decision_id)).toEqual(entries(i).map((e) => e.decision_id));
      expect(log.stats().durableSeq).toBe(i);
    }
    expectChain(await recordsOnDisk(dir), 1);
  });

  it("sync: concurrent appends are group-committed in call order", async () => {
    const dir = await scratch();
    const log = await open(dir, { checkpointEvery: 10 });
    const first = entries(40).map((e) => log.append(e));
    await sleep(0);
    const second = entries(40, 41).map((e) => log.append(e));
    await Promise.all([...first, ...second]);
    const lines = await recordsOnDisk(dir);
    expect(lines.map((l) => l.record.decision_id)).toEqual(entries(80).map((e) => e.decision_id));
    expectChain(lines, 1);
    // Checkpoints are considered once per batch: 80 records in 10-record steps would give 8 if each were its own
    // write. (Checkpoints are written after the appends resolve, so close to have them all on disk.)
    await log.close();
    const checkpoints = await checkpointPayloads(dir);
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(checkpoints.length).toBeLessThanOrEqual(3);
    expect(checkpoints.at(-1)!.seq).toBe(80);
  });

  it.each(["flushNow", "close"] as const)("batched: append resolves at once; %s writes the batch", async (how) => {
    const dir = await scratch();
    const log = await open(dir, { durability: "batched", batchWindowMs: 60_000 });
    for (const e of entries(3)) await log.append(e);
    expect(await recordsOnDisk(dir)).toEqual([]);
    expect(log.stats()).toMatchObject({ appended: 3, durableSeq: 0 });
    await (how === "flushNow" ? log.flushNow() : log.close());
    expectChain(await recordsOnDisk(dir), 1);
    expect((await recordsOnDisk(dir)).length).toBe(3);
  });

  it("batched: the window's timer writes without being asked", async () => {
    const dir = await scratch();
    const log = await open(dir, { durability: "batched", batchWindowMs: 10 });
    await log.append(entry());
    for (let i = 0; i < 100 && log.stats().durableSeq < 1; i++) await sleep(10);
    expect((await recordsOnDisk(dir)).length).toBe(1);
  });

  it("hands each durable line to the sinks and closes them once, however often close is called", async () => {
    const dir = await scratch();
    const seen: string[] = [];
    let closed = 0;
    const sink: AuditSink = { name: "memory", write: (line) => void seen.push(line), close: async () => void closed++, stats: () => ({ written: seen.length, dropped: 0, buffered: 0 }) };
    const log = await open(dir, { sinks: [sink] });
    await appendEach(log, entries(3));
    const closing = [log.close(), log.close()];
    // Another writer may take the directory as soon as the first close releases it: the second must not unlock it.
    await closing[0];
    const next = await open(dir);
    await Promise.all(closing);
    await expect(openLog(dir, key.signer)).rejects.toThrow(/already open/);
    expect((await readFile(path.join(dir, "writer.lock"), "utf8")).trim()).toBe(`${process.pid} ${hostname()}`);
    await next.close();
    expect(seen).toEqual((await recordsOnDisk(dir)).map((l) => l.text));
    expect(closed).toBe(1);
  });
});

describe("segments", () => {
  it.each([
    { name: "size", options: { maxSegmentBytes: Math.floor(2.5 * LINE) }, count: 10, segments: ["audit-000000000001.jsonl", "audit-000000000004.jsonl", "audit-000000000007.jsonl", "audit-000000000010.jsonl"] },
    { name: "age 0 (every batch)", options: { maxSegmentAgeMs: 0 }, count: 3, segments: [segmentName(1), segmentName(2), segmentName(3)] },
    { name: "neither", options: {}, count: 10, segments: [segmentName(1)] },
  ])("rotates by $name, each sealed segment with a matching summary", async ({ options, count, segments }) => {
    const dir = await scratch();
    const log = await open(dir, options);
    await appendEach(log, entries(count));
    expect(log.stats().segments).toBe(segments.length);
    await log.close();
    expect(await listSegments(dir)).toEqual(segments);
    const lines = await recordsOnDisk(dir);
    expectChain(lines, 1);
    for (const segment of segments) {
      const mine = lines.filter((l) => l.file === segment).map((l) => l.record);
      expect(segmentName(mine[0]!.seq)).toBe(segment);
      const summary = JSON.parse(await readFile(path.join(dir, summaryName(segment)), "utf8")) as SegmentSummary;
      expect(summary).toMatchObject({ segment, count: mine.length, firstSeq: mine[0]!.seq, lastSeq: mine.at(-1)!.seq, lastHash: mine.at(-1)!.hash });
      expect(summary.bytes).toBe((await stat(path.join(dir, segment))).size);
      expect(summary).toMatchObject({ agents: ["agent-a"], servers: ["files"], tools: ["read_file"], methods: ["tools/call"], decisions: { allow: mine.length } });
    }
  });

  it("rotates by age after the segment has been open that long", async () => {
    const dir = await scratch();
    const log = await open(dir, { maxSegmentAgeMs: 400 });
    await appendEach(log, entries(2));
    await sleep(500);
    await appendEach(log, entries(2, 3));
    await log.close();
    expect(await listSegments(dir)).toEqual([segmentName(1), segmentName(3)]);
  });
});

describe("checkpoints", () => {
  it.each([
    { every: 3, count: 10, seqs: [3, 6, 9, 10] },
    { every: 5, count: 10, seqs: [5, 10] },
    { every: 100, count: 4, seqs: [4] },
  ])("every $every records and on close: $seqs", async ({ every, count, seqs }) => {
    const dir = await scratch();
    const log = await open(dir, { checkpointEvery: every });
    await appendEach(log, entries(count));
    await log.close();
    expect(log.stats().checkpoints).toBe(seqs.length);
    const lines = await checkpointLines(dir);
    const results = await verifyCheckpoints(lines, [key.publicJwk]);
    expect(results.map((r) => r.problem)).toEqual(seqs.map(() => undefined));
    const records = (await recordsOnDisk(dir)).map((l) => l.record);
    expect(results.map((r) => r.payload!.seq)).toEqual(seqs);
    for (const { payload } of results) expect(payload).toMatchObject({ kind: "checkpoint", replica: "test", head: records[payload!.seq - 1]!.hash });
    const other = await testKey();
    expect((await verifyCheckpoints(lines, [other.publicJwk])).every((r) => r.problem !== undefined)).toBe(true);
  });

  it("signs on the interval timer", async () => {
    const dir = await scratch();
    const log = await open(dir, { checkpointIntervalMs: 20 });
    await log.append(entry());
    for (let i = 0; i < 100 && (await checkpointLines(dir)).length === 0; i++) await sleep(10);
    expect(await checkpointPayloads(dir)).toMatchObject([{ seq: 1 }]);
  });
});

describe("recovery", () => {
  it("a reopened log continues the chain in a new segment", async () => {
    const dir = await scratch();
    const first = await open(dir);
    await appendEach(first, entries(5));
    await first.close();
    const second = await open(dir);
    await appendEach(second, entries(3, 6));
    await second.close();
    expect(await listSegments(dir)).toEqual([segmentName(1), segmentName(6)]);
    expectChain(await recordsOnDisk(dir), 1);
    expect(await verifyAuditDir(dir, [key.publicJwk])).toMatchObject({ ok: true, records: 8, warnings: [] });
  });

  it("cuts a torn last line left by a crash and continues from the last whole record", async () => {
    const live = await scratch();
    const log = await open(live, { checkpointEvery: 2 });
    await appendEach(log, entries(4));
    // A crash: the files as they are now (live segment unsealed, no close checkpoint), plus half a line.
    const dir = await scratch();
    for (const name of await readdir(live)) if (name !== "writer.lock") await copyFile(path.join(live, name), path.join(dir, name));
    const segment = path.join(dir, segmentName(1));
    const whole = await readFile(segment);
    await appendFile(segment, '{"kind":"request","decision_id":"torn');
    expect((await verifyAuditDir(dir, [key.publicJwk])).warnings.some((w) => w.includes("torn last line"))).toBe(true);

    const reopened = await open(dir);
    expect((await readFile(segment)).equals(whole)).toBe(true);
    await appendEach(reopened, entries(2, 5));
    await reopened.close();
    const lines = await recordsOnDisk(dir);
    expect(lines.map((l) => l.record.decision_id)).toEqual(entries(6).map((e) => e.decision_id));
    expectChain(lines, 1);
    expect(await verifyAuditDir(dir, [key.publicJwk])).toMatchObject({ ok: true, records: 6, warnings: [] });
  });

  it("cuts a torn last checkpoint left by a crash, so the next one starts its own line", async () => {
    const dir = await scratch();
    const log = await open(dir, { checkpointEvery: 2 });
    await appendEach(log, entries(4));
    await log.close();
    await appendFile(path.join(dir, "checkpoints.jsonl"), "eyJhbGciOiJFUzI1NiJ9.eyJr");
    const torn = await verifyAuditDir(dir, [key.publicJwk]);
    expect(torn).toMatchObject({ ok: true, checkpoints: 2, warnings: [expect.stringMatching(/^checkpoints.jsonl:3: torn last line/)] });
    const reopened = await open(dir, { checkpointEvery: 2 });
    await appendEach(reopened, entries(2, 5));
    await reopened.close();
    expect((await checkpointPayloads(dir)).map((p) => p.seq)).toEqual([2, 4, 6]);
    expect(await verifyAuditDir(dir, [key.publicJwk])).toMatchObject({ ok: true, records: 6, checkpoints: 3, warnings: [] });
  });
});

describe("retention", () => {
  const old = new Date(Date.now() - 10 * 86_400_000).toISOString();
  const now = new Date().toISOString();
  it.each([
    { name: "total size", retention: { maxTotalBytes: Math.floor(3.5 * LINE) }, stamps: Array(10).fill(now), firstKept: 7 },
    { name: "total size 1 keeps the newest sealed segment", retention: { maxTotalBytes: 1 }, stamps: Array(10).fill(now), firstKept: 9 },
    { name: "age", retention: { maxAgeMs: 7 * 86_400_000 }, stamps: [...Array(6).fill(old), ...Array(4).fill(now)], firstKept: 7 },
    { name: "age, everything old", retention: { maxAgeMs: 7 * 86_400_000 }, stamps: Array(6).fill(old), firstKept: 5 },
  ])("by $name cuts the oldest whole segments behind a retention checkpoint", async ({ retention, stamps, firstKept }) => {
    const dir = await scratch();
    const log = await open(dir, { maxSegmentAgeMs: 0, retention });
    await appendEach(log, stamps.map((timestamp: string, i) => entry({ decision_id: id(i + 1), timestamp })));
    await log.close();
    const lines = await recordsOnDisk(dir);
    expect(lines[0]!.record.seq).toBe(firstKept);
    expectChain(lines, firstKept, lines[0]!.record.prev);
    expect(lines.at(-1)!.record.seq).toBe(stamps.length);
    const files = await readdir(dir);
    for (let seq = 1; seq < firstKept; seq++) {
      expect(files).not.toContain(segmentName(seq));
      expect(files).not.toContain(summaryName(segmentName(seq)));
    }
    const cuts = (await checkpointPayloads(dir)).filter((p) => p.kind === "retention");
    expect(cuts.length).toBeGreaterThan(0);
    expect(cuts.at(-1)).toMatchObject({ removedThroughSeq: firstKept - 1, anchor: lines[0]!.record.prev });
    expect(cuts.flatMap((c) => c.removedSegments ?? [])).toEqual(Array.from({ length: firstKept - 1 }, (_, i) => segmentName(i + 1)));
    expect(await verifyAuditDir(dir, [key.publicJwk])).toMatchObject({ ok: true, firstSeq: firstKept, lastSeq: stamps.length });
  });
});

describe("failure", () => {
  const openFds = async (target: string) => {
    const fds = await readdir("/proc/self/fd");
    const targets = await Promise.all(fds.map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => "")));
    return targets.filter((t) => t === target).length;
  };
  it.each([
    {
      name: "the directory replaced by a file (sealing fails)",
      error: /ENOTDIR/,
      async breakIt(dir: string) {
        await rename(dir, `${dir}.moved`);
        cleanups.push(() => rm(`${dir}.moved`, { recursive: true, force: true }));
        await writeFile(dir, "not a directory");
      },
    },
    {
      name: "a full disk (the write fails)",
      error: /ENOSPC/,
      breakIt: (dir: string) => symlink("/dev/full", path.join(dir, segmentName(2))),
    },
  ])("$name fails the log closed: that append and every later one reject", async ({ error, breakIt }) => {
    const dir = await scratch();
    // Every batch after the first rotates, so the second append opens (and writes) a new segment.
    const log = await open(dir, { maxSegmentBytes: 1 });
    await log.append(entry());
    const fdsBefore = await openFds("/dev/full");
    await breakIt(dir);
    const results = await Promise.allSettled([log.append(entry()), log.append(entry())]);
    for (const result of results) expect(result).toMatchObject({ status: "rejected", reason: expect.any(AuditUnavailableError) });
    expect(log.healthy).toBe(false);
    expect(log.unavailableReason).toMatch(error);
    expect(log.stats()).toMatchObject({ durableSeq: 1, failed: expect.stringMatching(error) });
    await expect(log.append(entry())).rejects.toBeInstanceOf(AuditUnavailableError);
    await log.close();
    await expect(log.append(entry())).rejects.toThrow(/closed/);
    expect(await openFds("/dev/full")).toBe(fdsBefore);
  });

  it("a batched log that failed refuses later appends", async () => {
    const dir = await scratch();
    const log = await open(dir, { durability: "batched", batchWindowMs: 60_000, maxSegmentBytes: 1 });
    await log.append(entry());
    await log.flushNow();
    await symlink("/dev/full", path.join(dir, segmentName(2)));
    await log.append(entry());
    await log.flushNow();
    expect(log.healthy).toBe(false);
    await expect(log.append(entry())).rejects.toBeInstanceOf(AuditUnavailableError);
  });
});

describe("lock", () => {
  it("one writer per directory in this process; the lock is released on close", async () => {
    const dir = await scratch();
    const log = await open(dir);
    expect((await readFile(path.join(dir, "writer.lock"), "utf8")).trim()).toBe(`${process.pid} ${hostname()}`);
    await expect(openLog(dir, key.signer)).rejects.toThrow(/already open in this process/);
    await log.close();
    await expect(stat(path.join(dir, "writer.lock"))).rejects.toThrow(/ENOENT/);
    await (await open(dir)).close();
  });

  it("two concurrent opens of one directory: exactly one wins", async () => {
    const dir = await scratch();
    const results = await Promise.allSettled([openLog(dir, key.signer), openLog(dir, key.signer)]);
    for (const r of results) if (r.status === "fulfilled") cleanups.push(() => r.value.close());
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
  });

  it.each([
    { name: "a dead pid", content: () => String(spawnSync(process.execPath, ["-e", ""]).pid) },
    { name: "no pid at all", content: () => "" },
  ])("a lock file left behind holding $name is stale and taken over", async ({ content }) => {
    const dir = await scratch();
    await writeFile(path.join(dir, "writer.lock"), content());
    const log = await open(dir);
    expect((await readFile(path.join(dir, "writer.lock"), "utf8")).trim()).toBe(`${process.pid} ${hostname()}`);
    await log.append(entry());
  });

  it("a lock file holding a live process's pid keeps the directory", async () => {
    const dir = await scratch();
    await writeFile(path.join(dir, "writer.lock"), String(process.ppid));
    await expect(openLog(dir, key.signer)).rejects.toThrow(`in use by process ${process.ppid}`);
  });

  it("a lock file from another host is never taken for stale (a pid there says nothing here)", async () => {
    const dir = await scratch();
    await writeFile(path.join(dir, "writer.lock"), "1 some-other-pod");
    await expect(openLog(dir, key.signer)).rejects.toThrow("locked by process 1 on host some-other-pod");
  });
});
