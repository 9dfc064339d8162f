/**
 * Queries over the segments, oldest first. A segment whose summary rules it out (its time range misses the
 * window, or its value sets lack the agent/server/tool/method asked for) is skipped unread; in the rest, a line
 * is parsed only if the filter's strings occur in it.
 *
 * Paging: the cursor is the last returned seq. Records are immutable and seq-ordered, so a cursor stays valid
 * while the log grows.
 */
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

export const MAX_QUERY_LIMIT = 1_000;

export function encodeCursor(afterSeq: number): string {
  return Buffer.from(JSON.stringify({ after: afterSeq })).toString("base64url");
}

function decodeCursor(cursor: string): number {
  try {
    const after = (JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")) as { after?: unknown }).after;
    if (typeof after === "number" && Number.isSafeInteger(after) && after >= 0) return after;
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
    return new Date(now - Number(relative[1]) * unit).toISOString();
  }
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(ms)) {
    throw new QueryError(`${name} must be an RFC 3339 time (2026-11-22T10:00:00Z) or a duration back from now (15m, 2h, 7d)`);
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
  const after = options.cursor === undefined ? 0 : decodeCursor(options.cursor);
  const known = new Map((options.summaries ?? []).map((s) => [s.segment, s]));
  const required = needles(filter);
  const records: AuditRecord[] = [];
  const scanned = { segments: 0, skipped: 0, lines: 0 };
  for (const segment of await listSegments(dir)) {
    const summary = known.get(segment) ?? (options.summaries === undefined ? await readSummary(dir, segment) : undefined);
    if (skippable(summary, filter, after)) {
      scanned.skipped++;
      continue;
    }
    scanned.segments++;
    for await (const line of readLines(path.join(dir, segment))) {
      // An incomplete last line is a write in progress (or torn by a crash): not a record yet.
      if (!line.complete) break;
      scanned.lines++;
      if (!required.every((n) => line.text.includes(n))) continue;
      const record = JSON.parse(line.text) as AuditRecord;
      if (record.seq <= after || !matches(record, filter)) continue;
      if (records.length === limit) return { records, nextCursor: encodeCursor(records[records.length - 1]!.seq), scanned };
      records.push(record);
    }
  }
  return { records, scanned };
}
