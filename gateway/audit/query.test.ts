import { appendFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CorruptLogError, encodeCursor, MAX_QUERY_LIMIT, parseTime, queryAudit, QueryError, type AuditFilter } from "./query.ts";
import type { AuditRecord, DecisionResult } from "./record.ts";
import { listSegments, readSummary, segmentName, type SegmentSummary } from "./segments.ts";
import { entry, openLog, recordsOnDisk, tempDir, testKey } from "./testing.ts";

// 20 records in 4 sealed segments of 5 (seq 1-5, 6-10, 11-15, 16-20); segment k spans hour k of the day, a minute apart.
const BASE = Date.parse("2026-11-22T00:00:00.000Z");
const at = (segment: number, minute: number) => new Date(BASE + segment * 3_600_000 + minute * 60_000).toISOString();
const DECISIONS: DecisionResult[] = ["allow", "deny", "dry-run-deny", "allow", "none"];

function fixtureEntry(i: number) {
  const segment = Math.floor(i / 5);
  return entry({
    decision_id: `id-${i}`,
    timestamp: at(segment, i % 5),
    agent: { id: i === 12 ? "agent-z" : i % 2 === 0 ? "agent-a" : "agent-b", issuer: "dev", subject: "s", scopes: [], claims: {} },
    server: i % 3 === 0 ? "memory" : "files",
    tool: ["read_file", "write_file", "search"][i % 3]!,
    method: i % 4 === 3 ? "resources/read" : "tools/call",
    decision: { result: segment === 3 && i % 5 === 4 ? "error" : DECISIONS[i % 5]!, reasons: [] },
  });
}

let dir: string;
let remove: () => Promise<void>;
let all: AuditRecord[];
let summaries: SegmentSummary[];

beforeAll(async () => {
  ({ dir, remove } = await tempDir());
  const log = await openLog(dir, (await testKey()).signer, { maxSegmentAgeMs: 0 });
  // One batch per segment: appends made in one turn are committed together, and every batch rotates.
  for (let segment = 0; segment < 4; segment++) await Promise.all(Array.from({ length: 5 }, (_, j) => log.append(fixtureEntry(segment * 5 + j))));
  await log.close();
  all = (await recordsOnDisk(dir)).map((l) => l.record);
  const segments = await listSegments(dir);
  summaries = await Promise.all(segments.map(async (s) => (await readSummary(dir, s))!));
});
afterAll(() => remove());

/** The expected answer, worked out independently of query.ts. */
function expected(filter: AuditFilter): number[] {
  return all
    .filter(
      (r) =>
        [[filter.agent, r.agent?.id], [filter.server, r.server], [filter.tool, r.tool], [filter.method, r.method], [filter.decision, r.decision.result]].every(
          ([want, have]) => want === undefined || want === have,
        ) &&
        (filter.since === undefined || Date.parse(r.timestamp) >= Date.parse(filter.since)) &&
        (filter.until === undefined || Date.parse(r.timestamp) < Date.parse(filter.until)),
    )
    .map((r) => r.seq);
}

const seqs = (records: AuditRecord[]) => records.map((r) => r.seq);

describe("queryAudit filters", () => {
  it("reads the fixture as 4 sealed segments of 5", async () => {
    expect(await listSegments(dir)).toEqual([1, 6, 11, 16].map(segmentName));
    expect(summaries.map((s) => s.count)).toEqual([5, 5, 5, 5]);
    expect(seqs(all)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it.each<{ name: string; filter: AuditFilter }>([
    { name: "agent", filter: { agent: "agent-a" } },
    { name: "an agent in one segment only", filter: { agent: "agent-z" } },
    { name: "server", filter: { server: "memory" } },
    { name: "tool", filter: { tool: "search" } },
    { name: "method", filter: { method: "resources/read" } },
    { name: "decision", filter: { decision: "deny" } },
    { name: "a decision in one segment only", filter: { decision: "error" } },
    { name: "since (inclusive)", filter: { since: at(1, 2) } },
    { name: "until (exclusive)", filter: { until: at(1, 2) } },
    { name: "a window inside one segment", filter: { since: at(2, 1), until: at(2, 3) } },
    { name: "a combination", filter: { agent: "agent-a", tool: "read_file", decision: "allow" } },
    { name: "a combination with time", filter: { server: "files", method: "tools/call", since: at(1, 0), until: at(3, 0) } },
  ])("narrows by $name", async ({ filter }) => {
    const want = expected(filter);
    expect(want.length).toBeGreaterThan(0);
    expect(want.length).toBeLessThan(all.length);
    const result = await queryAudit(dir, filter, { limit: MAX_QUERY_LIMIT });
    expect(seqs(result.records)).toEqual(want);
    expect(result.nextCursor).toBeUndefined();
  });

  it("since includes a record at that instant and until excludes it", async () => {
    const instant = all[6]!.timestamp;
    expect(seqs((await queryAudit(dir, { since: instant, until: instant }, { limit: 10 })).records)).toEqual([]);
    expect(seqs((await queryAudit(dir, { since: instant }, { limit: 10 })).records)[0]).toBe(7);
    expect(seqs((await queryAudit(dir, { until: instant }, { limit: 10 })).records).at(-1)).toBe(6);
  });

  it.each<AuditFilter>([{ agent: "nobody" }, { tool: "read_file", server: "nowhere" }, { since: at(5, 0) }])("finds nothing for %o", async (filter) => {
    const result = await queryAudit(dir, filter, { limit: 10 });
    expect([result.records, result.nextCursor]).toEqual([[], undefined]);
  });
});

describe("paging", () => {
  const cases = [1, 3, 1000].flatMap((limit) => [{}, { agent: "agent-a" }, { decision: "allow" as const }].map((filter) => ({ limit, filter })));
  it.each(cases)("limit $limit, filter $filter: every match exactly once", async ({ limit, filter }) => {
    const want = expected(filter);
    const got: number[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await queryAudit(dir, filter, { limit, cursor });
      expect(page.records.length).toBeLessThanOrEqual(limit);
      got.push(...seqs(page.records));
      cursor = page.nextCursor;
      pages++;
    } while (cursor !== undefined && pages < 100);
    expect(got).toEqual(want);
    expect(pages).toBe(Math.max(1, Math.ceil(want.length / limit)));
  });

  it("a page resumes where the last one stopped instead of rescanning its segment; a wrong offset hint is ignored", async () => {
    let cursor: string | undefined;
    let lines = 0;
    for (let page = 0; page < 20; page++) {
      const result = await queryAudit(dir, {}, { limit: 1, cursor });
      lines += result.scanned.lines;
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    // One read per record (plus at most one look-ahead line per page), not a segment's worth per page.
    expect(lines).toBeLessThanOrEqual(40);
    const bogus = encodeCursor(17, { segment: "audit-000000000016.jsonl", offset: 3 });
    expect(seqs((await queryAudit(dir, {}, { limit: 3, cursor: bogus })).records)).toEqual([18, 19, 20]);
  });

  it("a cursor resumes after its seq", async () => {
    expect(seqs((await queryAudit(dir, {}, { limit: 3, cursor: encodeCursor(17) })).records)).toEqual([18, 19, 20]);
  });

  it.each([
    { name: "not base64 JSON", cursor: "not a cursor!" },
    { name: "no after", cursor: Buffer.from("{}").toString("base64url") },
    { name: "a negative seq", cursor: Buffer.from('{"after":-1}').toString("base64url") },
    { name: "a fractional seq", cursor: Buffer.from('{"after":1.5}').toString("base64url") },
    { name: "a string seq", cursor: Buffer.from('{"after":"3"}').toString("base64url") },
  ])("rejects a cursor that is $name", async ({ cursor }) => {
    await expect(queryAudit(dir, {}, { limit: 10, cursor })).rejects.toBeInstanceOf(QueryError);
  });

  it.each([
    { limit: 0, size: 1 },
    { limit: 2.9, size: 2 },
    { limit: 5_000, size: 20 },
  ])("clamps limit $limit to a page of $size", async ({ limit, size }) => {
    expect((await queryAudit(dir, {}, { limit })).records.length).toBe(size);
  });
});

describe("a damaged log", () => {
  it("a line that is not JSON is a CorruptLogError naming it, not a crash", async () => {
    const scratch = await tempDir();
    const damaged = scratch.dir;
    const log = await openLog(damaged, (await testKey()).signer);
    await log.append(entry());
    await log.close();
    const [segment] = await listSegments(damaged);
    await appendFile(path.join(damaged, segment!), "{not json\n");
    await expect(queryAudit(damaged, {}, { limit: 10 })).rejects.toThrow(CorruptLogError);
    await expect(queryAudit(damaged, {}, { limit: 10 })).rejects.toThrow(`${segment}:2: not a JSON record`);
    await scratch.remove();
  });
});

describe("parseTime", () => {
  const now = Date.parse("2026-11-22T12:00:00.000Z");
  it.each([
    ["2026-11-22T10:00:00Z", "2026-11-22T10:00:00.000Z"],
    ["2026-11-22T10:00:00.5Z", "2026-11-22T10:00:00.500Z"],
    ["2026-11-22T12:30:00+02:00", "2026-11-22T10:30:00.000Z"],
    ["2026-11-22t10:00:00z", "2026-11-22T10:00:00.000Z"],
    ["2026-11-22", "2026-11-22T00:00:00.000Z"],
    ["2026-11-22T10:00Z", "2026-11-22T10:00:00.000Z"],
    ["30s", "2026-11-22T11:59:30.000Z"],
    ["15m", "2026-11-22T11:45:00.000Z"],
    ["2h", "2026-11-22T10:00:00.000Z"],
    ["7d", "2026-11-15T12:00:00.000Z"],
  ])("accepts %s", (value, iso) => {
    expect(parseTime(value, "since", now)).toBe(iso);
  });

  it.each(["", "yesterday", "15", "15 m", "-5m", "5w", "1.5h", "1700000000", "2026-13-01T00:00:00Z", "2026-11-22T25:00:00Z", "22/11/2026", "2026-11-22T10:00:00", "2026-02-30T00:00:00Z", "2026-02-30", "99999999999d"])("rejects %j", (value) => {
    expect(() => parseTime(value, "until", now)).toThrow(QueryError);
    expect(() => parseTime(value, "until", now)).toThrow(/^until must be/);
  });
});

describe("segment skipping", () => {
  it.each<{ name: string; filter: AuditFilter; cursor?: number; skipped: number }>([
    { name: "a time window inside one segment", filter: { since: at(2, 1), until: at(2, 3) }, skipped: 3 },
    { name: "an agent seen in one segment", filter: { agent: "agent-z" }, skipped: 3 },
    { name: "a decision seen in one segment", filter: { decision: "error" }, skipped: 3 },
    { name: "a cursor past two segments", filter: {}, cursor: 10, skipped: 2 },
    { name: "since after the first segment", filter: { since: at(1, 0) }, skipped: 1 },
  ])("skips segments for $name with the same results as a full scan", async ({ filter, cursor, skipped }) => {
    const options = { limit: MAX_QUERY_LIMIT, cursor: cursor === undefined ? undefined : encodeCursor(cursor) };
    const fromDisk = await queryAudit(dir, filter, options);
    const given = await queryAudit(dir, filter, { ...options, summaries });
    const full = await queryAudit(dir, filter, { ...options, summaries: [] });
    expect(fromDisk.scanned).toMatchObject({ skipped, segments: 4 - skipped });
    expect(given.scanned).toEqual(fromDisk.scanned);
    expect(full.scanned).toMatchObject({ skipped: 0, segments: 4, lines: 20 });
    expect(seqs(fromDisk.records)).toEqual(seqs(full.records));
    expect(seqs(given.records)).toEqual(seqs(full.records));
    expect(fromDisk.records.length).toBeGreaterThan(0);
  });

  it("scans a segment whose summary was not given", async () => {
    const result = await queryAudit(dir, { since: at(0, 0), until: at(0, 3) }, { limit: 100, summaries: summaries.filter((s) => s.firstSeq !== 11) });
    expect(result.scanned).toMatchObject({ segments: 2, skipped: 2 });
    expect(seqs(result.records)).toEqual([1, 2, 3]);
  });

  it("a live log's summaries (its open segment's included) and a torn last line", async () => {
    const { dir: live, remove: removeLive } = await tempDir();
    const log = await openLog(live, (await testKey()).signer, {});
    try {
      for (let i = 0; i < 6; i++) await log.append(fixtureEntry(i));
      await appendFile(path.join(live, segmentName(1)), '{"kind":"request","agent":{"id":"agent-a"');
      const result = await queryAudit(live, { agent: "agent-a" }, { limit: 100, summaries: log.summaries() });
      expect(seqs(result.records)).toEqual([1, 3, 5]);
      expect(result.scanned).toMatchObject({ segments: 1, skipped: 0, lines: 6 });
      expect((await queryAudit(live, { agent: "agent-z" }, { limit: 100, summaries: log.summaries() })).scanned.skipped).toBe(1);
    } finally {
      await log.close();
      await removeLive();
    }
  });
});
