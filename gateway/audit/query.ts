/**
 * Queries over the segments, oldest first. A segment whose summary rules it out (its time range misses the
 * window, or its value sets lack the agent/server/tool/method asked for) is skipped unread; in the rest, a line
 * is parsed only if the filter's strings occur in it.
 *
 * Paging: the cursor is the last returned seq, plus where the next line starts (segment and byte offset) so the
 * next page reads on from there instead of rescanning its segment. Records are immutable and seq-ordered, so a
 * cursor stays valid
 * while the log grows.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { AuditRecord, DecisionResult } from "./record.ts";
import { listSegments, readLines, readSummary, type SegmentSummary } from "./segments.ts";

export interface AuditFilter {
  agent?: string;
  server?: string;
  tool?: string;
  method?: string;
  decision?: DecisionResult;
  /** Inclusive, RFC 3339. */
  since?: string;
  /** Exclusive, RFC 3339. */
  until?: string;
}

export interface QueryOptions {
  limit: number;
  cursor?: string;
  /** The writer's summaries (the live segment's included); read from disk when absent. */
  summaries?: readonly SegmentSummary[];
}

export interface QueryResult {
  records: AuditRecord[];
  /** Present when more records may match. */
  nextCursor?: string;
  scanned: { segments: number; skipped: number; lines: number };
}

export class QueryError extends Error {}

/** A line in the log that is not a record: the log was damaged or edited; `gatehouse audit verify` says where. */
export class CorruptLogError extends Error {}

/** Relative times reach back at most this far (and stay inside what Date can represent). */
const MAX_LOOKBACK_MS = 100 * 365 * 86_400_000;

export const MAX_QUERY_LIMIT = 1_000;

interface Cursor {
  after: number;
  /** A hint: the segment and offset of the line after `after`. Checked before use; a stale hint only costs a scan. */
  segment?: string;
  offset?: number;
}

export function encodeCursor(afterSeq: number, resume?: { segment: string; offset: number }): string {
  const cursor: Cursor = resume === undefined ? { after: afterSeq } : { after: afterSeq, ...resume };
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

function decodeCursor(cursor: string): Cursor {
  try {
    const { after, segment, offset } = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as Record<string, unknown>;
    if (typeof after === "number" && Number.isSafeInteger(after) && after >= 0) {
      const hinted = typeof segment === "string" && typeof offset === "number" && Number.isSafeInteger(offset) && offset >= 0;
      return hinted ? { after, segment, offset } : { after };
    }
  } catch {
    // fall through to the error below
  }
  throw new QueryError("cursor is not one this gateway issued");
}

/** Normalizes an RFC 3339 time, or a duration back from now ("15m", "2h", "7d"), to ISO 8601 UTC. */
export function parseTime(value: string, name: string, now = Date.now()): string {
  const relative = /^(\d+)(s|m|h|d)$/.exec(value);
  if (relative !== null) {
    const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as "s" | "m" | "h" | "d"];
    const back = Number(relative[1]) * unit;
    if (back > MAX_LOOKBACK_MS) throw new QueryError(`${name} must be within the last 100 years`);
    return new Date(now - back).toISOString();
  }
  // RFC 3339 with its offset: a time without one would be read in this machine's zone, which the auditor may not share.
  const parts = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?([Zz]|[+-]\d{2}:\d{2}))?$/.exec(value);
  const ms = parts === null || (parts[4] !== undefined && parts[7] === undefined) ? Number.NaN : Date.parse(parts[4] === undefined ? `${value}T00:00:00Z` : value);
  // Date.parse rolls 2026-02-30 over to March: a date that does not exist is an error, not another date.
  const realDate = parts !== null && new Date(Date.UTC(+parts[1]!, +parts[2]! - 1, +parts[3]!)).getUTCDate() === +parts[3]!;
  if (Number.isNaN(ms) || !realDate) {
    throw new QueryError(`${name} must be an RFC 3339 time with its offset (2026-11-22T10:00:00Z), a date (2026-11-22, UTC) or a duration back from now (15m, 2h, 7d)`);
  }
  return new Date(ms).toISOString();
}

function skippable(summary: SegmentSummary | undefined, filter: AuditFilter, after: number): boolean {
  if (summary === undefined) return false;
  if (summary.lastSeq <= after) return true;
  if (filter.since !== undefined && summary.toTime < filter.since) return true;
  if (filter.until !== undefined && summary.fromTime >= filter.until) return true;
  const lacks = (set: string[] | null, value: string | undefined) => value !== undefined && set !== null && !set.includes(value);
  if (lacks(summary.agents, filter.agent) || lacks(summary.servers, filter.server) || lacks(summary.tools, filter.tool) || lacks(summary.methods, filter.method)) {
    return true;
  }
  return filter.decision !== undefined && summary.decisions[filter.decision] === undefined;
}

export function matches(record: AuditRecord, filter: AuditFilter): boolean {
  return (
    (filter.agent === undefined || record.agent?.id === filter.agent) &&
    (filter.server === undefined || record.server === filter.server) &&
    (filter.tool === undefined || record.tool === filter.tool) &&
    (filter.method === undefined || record.method === filter.method) &&
    (filter.decision === undefined || record.decision.result === filter.decision) &&
    (filter.since === undefined || record.timestamp >= filter.since) &&
    (filter.until === undefined || record.timestamp < filter.until)
  );
}

/** Strings that must occur in a matching line, as JSON wrote them: a cheap test before parsing. */
function needles(filter: AuditFilter): string[] {
  return [filter.agent, filter.server, filter.tool, filter.method, filter.decision].filter((v) => v !== undefined).map((v) => JSON.stringify(v));
}

export async function queryAudit(dir: string, filter: AuditFilter, options: QueryOptions): Promise<QueryResult> {
  const limit = Math.min(Math.max(1, Math.trunc(options.limit)), MAX_QUERY_LIMIT);
  const cursor: Cursor = options.cursor === undefined ? { after: 0 } : decodeCursor(options.cursor);
  const { after } = cursor;
  const known = new Map((options.summaries ?? []).map((s) => [s.segment, s]));
  const required = needles(filter);
  const records: AuditRecord[] = [];
  const scanned = { segments: 0, skipped: 0, lines: 0 };
  let resume: { segment: string; offset: number } | undefined;
  for (const segment of await listSegments(dir)) {
    const summary = known.get(segment) ?? (options.summaries === undefined ? await readSummary(dir, segment) : undefined);
    if (skippable(summary, filter, after)) {
      scanned.skipped++;
      continue;
    }
    scanned.segments++;
    const file = path.join(dir, segment);
    // Retention may cut a segment between the listing and the read: its records are gone, not an error.
    if (!existsSync(file)) continue;
    const start = segment === cursor.segment ? await resumeOffset(file, cursor) : 0;
    for await (const line of readLines(file, start)) {
      // An incomplete last line is a write in progress (or torn by a crash): not a record yet.
      if (!line.complete) break;
      scanned.lines++;
      if (!required.every((n) => line.text.includes(n))) continue;
      let record: AuditRecord;
      try {
        record = JSON.parse(line.text) as AuditRecord;
      } catch {
        throw new CorruptLogError(`${segment}:${line.number}: not a JSON record; run \`gatehouse audit verify\``);
      }
      if (record.seq <= after || !matches(record, filter)) continue;
      if (records.length === limit) return { records, nextCursor: encodeCursor(records[records.length - 1]!.seq, resume), scanned };
      records.push(record);
      resume = { segment, offset: line.offset + Buffer.byteLength(line.text) + 1 };
    }
  }
  return { records, scanned };
}

/** The cursor's offset if the line there really is the record after `after`'s; else 0 (scan the segment). */
async function resumeOffset(file: string, cursor: Cursor): Promise<number> {
  if (cursor.offset === undefined || cursor.offset === 0) return 0;
  for await (const line of readLines(file, cursor.offset)) {
    if (!line.complete) return 0;
    try {
      const { seq, prev } = JSON.parse(line.text) as { seq?: unknown; prev?: unknown };
      return seq === cursor.after + 1 && typeof prev === "string" ? cursor.offset : 0;
    } catch {
      return 0;
    }
  }
  return 0;
}
