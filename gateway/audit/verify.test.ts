import { appendFile, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { GENESIS } from "./record.ts";
import { signCheckpoint } from "./checkpoints.ts";
import { sealRecord, type AuditRecord } from "./record.ts";
import { CHECKPOINTS_FILE, segmentName, summaryName } from "./segments.ts";
import { appendEach, checkpointLines, entries, LINE, openLog, payloadOf, recordsOnDisk, segmentLines, tempDir, testKey, type TestKey } from "./testing.ts";
import { verifyAuditDir, type VerifyReport } from "./verify.ts";

let key: TestKey;
let other: TestKey;
beforeAll(async () => {
  key = await testKey();
  other = await testKey("other-key");
});

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const [S1, S5, S9] = [segmentName(1), segmentName(5), segmentName(9)];

/** 12 records in 3 segments of 4 (1-4, 5-8, 9-12), signed checkpoints at 4, 8 and 12 (checkpoints.jsonl lines 1-3). */
async function fixture(options: Parameters<typeof openLog>[2] = {}, count = 12, close = true) {
  const { dir, remove } = await tempDir();
  cleanups.push(remove);
  const log = await openLog(dir, key.signer, { maxSegmentBytes: Math.floor(3.5 * LINE), checkpointEvery: 4, ...options });
  cleanups.push(() => log.close());
  await appendEach(log, entries(count));
  if (close) await log.close();
  return { dir, log };
}

const verify = (dir: string, keys = [key.publicJwk]) => verifyAuditDir(dir, keys);

async function edit(dir: string, file: string, change: (lines: string[]) => string[]): Promise<void> {
  await writeFile(path.join(dir, file), change(await segmentLines(dir, file)).map((l) => `${l}\n`).join(""));
}

/** What an attacker without the key can do: rebuild a record's hash after changing it. */
function reseal(line: string, change: (r: AuditRecord) => void, prev?: string): string {
  const record = JSON.parse(line) as AuditRecord;
  change(record);
  const { seq, prev: oldPrev, hash: _hash, ...rest } = record;
  return sealRecord(rest, seq, prev ?? oldPrev).line;
}

const b64 = (text: string) => Buffer.from(text).toString("base64url");
const forge = (signer: TestKey["signer"]) => signCheckpoint(signer, { kind: "checkpoint", replica: "test", seq: 12, head: "f".repeat(64), time: new Date().toISOString() });

interface Case {
  name: string;
  tamper(dir: string): Promise<void>;
  problem: { file: string; line?: number; seq?: number; reason: RegExp };
}

const cases: Case[] = [
  { name: "one byte of a value edited", tamper: (d) => edit(d, S5, (l) => l.map((t, i) => (i === 1 ? t.replace('"tools/call"', '"tools/cell"') : t))), problem: { file: S5, line: 2, seq: 6, reason: /hash mismatch: the record was edited/ } },
  { name: "an edit that breaks the JSON", tamper: (d) => edit(d, S5, (l) => l.map((t, i) => (i === 1 ? t.replace('"seq":6', '"seq":6,') : t))), problem: { file: S5, line: 2, reason: /not valid JSON/ } },
  { name: "a middle line deleted", tamper: (d) => edit(d, S5, (l) => l.filter((_, i) => i !== 1)), problem: { file: S5, line: 2, seq: 7, reason: /seq 7 where 6 was expected/ } },
  { name: "two adjacent lines swapped", tamper: (d) => edit(d, S5, ([a, b, c, e]) => [a!, c!, b!, e!]), problem: { file: S5, line: 2, seq: 7, reason: /seq 7 where 6 was expected/ } },
  { name: "a copied line inserted", tamper: (d) => edit(d, S5, ([a, b, ...rest]) => [a!, b!, b!, ...rest]), problem: { file: S5, line: 3, seq: 6, reason: /seq 6 where 7 was expected/ } },
  { name: "the last records truncated behind a checkpoint", tamper: (d) => edit(d, S9, (l) => l.slice(0, 2)), problem: { file: S9, seq: 10, reason: /truncated: checkpoints.jsonl line 3 covers records through seq 12, but the log ends at seq 10/ } },
  { name: "a middle segment deleted", tamper: (d) => rm(path.join(d, S5)), problem: { file: S9, reason: /should start at seq 5 but is named for seq 9/ } },
  { name: "the first segment deleted", tamper: (d) => rm(path.join(d, S1)), problem: { file: S5, reason: /should start at seq 1 but is named for seq 5/ } },
  { name: "a segment renamed", tamper: (d) => rename(path.join(d, S5), path.join(d, segmentName(6))), problem: { file: segmentName(6), reason: /should start at seq 5/ } },
  { name: "the last segment deleted", tamper: (d) => rm(path.join(d, S9)), problem: { file: S5, seq: 8, reason: /truncated: .* through seq 12, but the log ends at seq 8/ } },
  { name: "every segment deleted", tamper: async (d) => { for (const s of [S1, S5, S9]) await rm(path.join(d, s)); }, problem: { file: "(no segments)", seq: 0, reason: /truncated: checkpoints.jsonl line 1 covers records through seq 4, but the log ends at seq 0/ } },
  { name: "a checkpoint signed by another key under the trusted kid", tamper: async (d) => appendFile(path.join(d, CHECKPOINTS_FILE), `${await forge({ ...other.signer, kid: key.signer.kid })}\n`), problem: { file: CHECKPOINTS_FILE, line: 4, reason: /signature check failed/ } },
  { name: "a checkpoint signed by an untrusted key", tamper: async (d) => appendFile(path.join(d, CHECKPOINTS_FILE), `${await forge(other.signer)}\n`), problem: { file: CHECKPOINTS_FILE, line: 4, reason: /"other-key", which is not in the trusted key set/ } },
  {
    name: "a checkpoint's payload changed, its signature kept",
    tamper: async (d) => {
      const lines = await checkpointLines(d);
      const [header, , signature] = lines[1]!.split(".");
      lines[1] = [header, b64(JSON.stringify({ ...payloadOf(lines[1]!), seq: 7 })), signature].join(".");
      await writeFile(path.join(d, CHECKPOINTS_FILE), lines.map((l) => `${l}\n`).join(""));
    },
    problem: { file: CHECKPOINTS_FILE, line: 2, reason: /signature check failed/ },
  },
  { name: "a checkpoint line that is not a JWS", tamper: (d) => appendFile(path.join(d, CHECKPOINTS_FILE), "hello\n"), problem: { file: CHECKPOINTS_FILE, line: 4, reason: /not a compact JWS/ } },
  { name: "a checkpoint whose header is JSON null", tamper: (d) => appendFile(path.join(d, CHECKPOINTS_FILE), `${b64("null")}.${b64("{}")}.AAAA\n`), problem: { file: CHECKPOINTS_FILE, line: 4, reason: /not a compact JWS/ } },
  { name: "an edited record with its hash recomputed", tamper: (d) => edit(d, S5, (l) => l.map((t, i) => (i === 1 ? reseal(t, (r) => (r.tool = "write_file")) : t))), problem: { file: S5, line: 3, seq: 7, reason: /prev does not match/ } },
  { name: "an edited checkpointed record with its hash recomputed", tamper: (d) => edit(d, S1, (l) => l.map((t, i) => (i === 3 ? reseal(t, (r) => (r.tool = "write_file")) : t))), problem: { file: S1, line: 4, seq: 4, reason: /does not match the signed checkpoint \(checkpoints.jsonl line 1\)/ } },
  {
    name: "the chain rewritten from an edit onward",
    tamper: async (d) => {
      let prev: string | undefined;
      for (const file of [S5, S9]) {
        await edit(d, file, (lines) =>
          lines.map((t) => {
            const line = reseal(t, (r) => (r.seq === 6 ? (r.tool = "write_file") : undefined), prev);
            prev = (JSON.parse(line) as AuditRecord).hash;
            return line;
          }),
        );
      }
    },
    problem: { file: S5, line: 4, seq: 8, reason: /does not match the signed checkpoint \(checkpoints.jsonl line 2\)/ },
  },
  {
    // Dropping the last checkpoint's newline must not make it count as torn (and so ignored) while records go.
    name: "truncation behind a checkpoint whose newline was removed",
    tamper: async (d) => {
      const file = path.join(d, "checkpoints.jsonl");
      await writeFile(file, (await readFile(file, "utf8")).replace(/\n$/, ""));
      await edit(d, S9, (l) => l.slice(0, 2));
    },
    problem: { file: S9, seq: 10, reason: /truncated: checkpoints.jsonl line 3 covers records through seq 12/ },
  },
];

describe("verifyAuditDir", () => {
  it("passes an untouched log with the counts right", async () => {
    const { dir } = await fixture();
    const records = await recordsOnDisk(dir);
    expect(records.map((r) => `${r.file}:${r.line}`).slice(3, 6)).toEqual([`${S1}:4`, `${S5}:1`, `${S5}:2`]);
    expect(await verify(dir)).toEqual({ ok: true, records: 12, segments: 3, checkpoints: 3, firstSeq: 1, lastSeq: 12, head: records.at(-1)!.record.hash, warnings: [] });
  });

  it.each(cases)("detects $name", async ({ tamper, problem }) => {
    const { dir } = await fixture();
    expect((await verify(dir)).ok).toBe(true);
    await tamper(dir);
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problem).toEqual({ file: problem.file, line: problem.line, seq: problem.seq, reason: expect.stringMatching(problem.reason) });
  });

  it("fails every checkpoint against a key set that lacks the signer", async () => {
    const { dir } = await fixture();
    expect((await verify(dir, [other.publicJwk])).problem).toMatchObject({ file: CHECKPOINTS_FILE, line: 1, reason: expect.stringMatching(/not in the trusted key set/) });
  });

  it("a torn last line is a warning; a torn line in an earlier segment is a failure", async () => {
    const { dir } = await fixture();
    await appendFile(path.join(dir, S9), '{"kind":"requ');
    const report = await verify(dir);
    expect(report).toMatchObject({ ok: true, records: 12, lastSeq: 12 });
    expect(report.warnings).toEqual([expect.stringMatching(new RegExp(`^${S9}:5: torn last line`))]);
    await appendFile(path.join(dir, S5), '{"kind":"requ');
    expect(await verify(dir)).toMatchObject({ ok: false, problem: { file: S5, line: 5, reason: expect.stringMatching(/incomplete line in the middle/) } });
  });

  it.each([
    { name: "no checkpoint yet", every: 100, count: 3, warning: "records 1…3 are after the last checkpoint" },
    { name: "records past the last checkpoint", every: 4, count: 6, warning: "records 5…6 are after the last checkpoint" },
  ])("warns about $name until the close checkpoint covers them", async ({ every, count, warning }) => {
    const { dir, log } = await fixture({ checkpointEvery: every }, count, false);
    const open = await verify(dir);
    expect(open).toMatchObject({ ok: true, records: count });
    expect(open.warnings).toEqual([expect.stringContaining(warning)]);
    await log.close();
    expect(await verify(dir)).toMatchObject({ ok: true, records: count, warnings: [] });
  });

  it.each([
    { name: "its count", change: { count: 99 } },
    { name: "its agents (a query for one would skip the segment)", change: { agents: ["someone-else"] } },
    { name: "its time range", change: { fromTime: "2001-01-01T00:00:00.000Z", toTime: "2001-01-01T00:00:01.000Z" } },
  ])("fails a summary edited in $name: queries trusting it could hide records", async ({ change }) => {
    const { dir } = await fixture();
    const file = path.join(dir, summaryName(S5));
    await writeFile(file, JSON.stringify({ ...JSON.parse(await readFile(file, "utf8")), ...change }));
    const report = await verify(dir);
    expect(report.ok).toBe(false);
    expect(report.problem).toMatchObject({ file: summaryName(S5), reason: expect.stringMatching(/summary disagrees/) });
  });

  it("passes a log cut by retention, and fails it once the retention checkpoint is gone", async () => {
    const { dir } = await fixture({ maxSegmentAgeMs: 0, retention: { maxTotalBytes: 1 } }, 6);
    const report = await verify(dir);
    expect(report).toMatchObject({ ok: true, firstSeq: 5, lastSeq: 6, records: 2, segments: 2 });
    const kept = (await checkpointLines(dir)).filter((l) => payloadOf(l).kind !== "retention");
    await writeFile(path.join(dir, CHECKPOINTS_FILE), kept.map((l) => `${l}\n`).join(""));
    expect((await verify(dir)).problem).toMatchObject({ file: segmentName(5), reason: expect.stringMatching(/should start at seq 1/) });
  });

  it.each([
    { name: "a segment a retention checkpoint lists as removed is left over (a crash mid-cut)", segment: segmentName(2), ok: true },
    { name: "a segment before the cut that no checkpoint lists still fails", segment: segmentName(0), ok: false },
  ])("$name", async ({ segment, ok }) => {
    const { dir } = await fixture({ maxSegmentAgeMs: 0, retention: { maxTotalBytes: 1 } }, 6);
    await writeFile(path.join(dir, segment), "whatever was there\n");
    const report = await verify(dir);
    expect(report.ok).toBe(ok);
    if (ok) expect(report).toMatchObject({ firstSeq: 5, segments: 2, warnings: [expect.stringMatching(new RegExp(`^${segment}: left over from an interrupted retention cut`))] });
    else expect(report.problem).toMatchObject({ file: segment, reason: expect.stringMatching(/should start at seq 5 but is named for seq 0/) });
  });

  it("passes an empty directory", async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    expect(await verify(dir)).toMatchObject({ ok: true, records: 0, segments: 0, checkpoints: 0, head: GENESIS, warnings: [] } satisfies Partial<VerifyReport>);
  });
});
