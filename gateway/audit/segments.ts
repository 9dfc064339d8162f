/**
 * The audit directory's layout, shared by the writer, the verifier and queries:
 *
 *   audit-000000000001.jsonl          records 1…, one canonical JSON line each
 *   audit-000000000001.summary.json   written when the segment is sealed: its seq/time range and value sets
 *   checkpoints.jsonl                 signed checkpoints (compact JWS, one a line)
 *
 * A segment is named after its first record's seq, so name order is chain order.
 */
import { createReadStream } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { AuditRecord, DecisionResult } from "./record.ts";

export const CHECKPOINTS_FILE = "checkpoints.jsonl";
const SEGMENT_PATTERN = /^audit-(\d{12})\.jsonl$/;

export function segmentName(firstSeq: number): string {
  return `audit-${String(firstSeq).padStart(12, "0")}.jsonl`;
}

export function summaryName(segment: string): string {
  return segment.replace(/\.jsonl$/, ".summary.json");
}

/** Segment file names in chain order. */
export async function listSegments(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return names.filter((n) => SEGMENT_PATTERN.test(n)).sort();
}

export function firstSeqOf(segment: string): number {
  return Number(SEGMENT_PATTERN.exec(segment)?.[1] ?? Number.NaN);
}

/** Value sets larger than this are dropped from a summary (null = "any value may occur"). */
const SET_LIMIT = 256;

/**
 * What a query needs to know to skip a segment without reading it. An index, not evidence: `verify` checks the
 * records themselves, and a summary that disagrees with its segment is reported.
 */
export interface SegmentSummary {
  segment: string;
  count: number;
  firstSeq: number;
  lastSeq: number;
  /** The earliest and latest timestamp in the segment (records are in seq order; clocks may step back). */
  fromTime: string;
  toTime: string;
  lastHash: string;
  bytes: number;
  agents: string[] | null;
  servers: string[] | null;
  tools: string[] | null;
  methods: string[] | null;
  decisions: Partial<Record<DecisionResult, number>>;
}

type SetField = "agents" | "servers" | "tools" | "methods";

export class SummaryBuilder {
  private readonly segment: string;
  private count = 0;
  private firstSeq = 0;
  private lastSeq = 0;
  private fromTime = "";
  private toTime = "";
  private lastHash = "";
  private bytes = 0;
  private readonly sets: Record<SetField, Set<string> | null> = { agents: new Set(), servers: new Set(), tools: new Set(), methods: new Set() };
  private readonly decisions: Partial<Record<DecisionResult, number>> = {};

  constructor(segment: string) {
    this.segment = segment;
  }

  get size(): number {
    return this.count;
  }

  add(record: AuditRecord, lineBytes: number): void {
    if (this.count === 0) {
      this.firstSeq = record.seq;
      this.fromTime = record.timestamp;
      this.toTime = record.timestamp;
    }
    this.count++;
    this.lastSeq = record.seq;
    // ISO 8601 UTC strings of one format compare as times.
    if (record.timestamp < this.fromTime) this.fromTime = record.timestamp;
    if (record.timestamp > this.toTime) this.toTime = record.timestamp;
    this.lastHash = record.hash;
    this.bytes += lineBytes + 1;
    this.note("agents", record.agent?.id);
    this.note("servers", record.server);
    this.note("tools", record.tool);
    this.note("methods", record.method);
    const result = record.decision.result;
    this.decisions[result] = (this.decisions[result] ?? 0) + 1;
  }

  private note(field: SetField, value: string | undefined): void {
    const set = this.sets[field];
    if (value === undefined || set === null) return;
    set.add(value);
    if (set.size > SET_LIMIT) this.sets[field] = null;
  }

  build(): SegmentSummary {
    const list = (field: SetField) => (this.sets[field] === null ? null : [...this.sets[field]!].sort());
    return {
      segment: this.segment,
      count: this.count,
      firstSeq: this.firstSeq,
      lastSeq: this.lastSeq,
      fromTime: this.fromTime,
      toTime: this.toTime,
      lastHash: this.lastHash,
      bytes: this.bytes,
      agents: list("agents"),
      servers: list("servers"),
      tools: list("tools"),
      methods: list("methods"),
      decisions: { ...this.decisions },
    };
  }
}

export async function readSummary(dir: string, segment: string): Promise<SegmentSummary | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dir, summaryName(segment)), "utf8")) as SegmentSummary;
  } catch {
    return undefined;
  }
}

export interface SegmentLine {
  /** 1-based line number in the segment. */
  number: number;
  text: string;
  /** Byte offset of the line's start. */
  offset: number;
  /** false for a last line without its newline: a write cut short (crash), never acknowledged. */
  complete: boolean;
}

/** Streams a segment's lines with bounded memory. Offsets let the writer cut a torn tail. */
export async function* readLines(file: string, startOffset = 0): AsyncGenerator<SegmentLine> {
  let carry: Buffer = Buffer.alloc(0);
  let offset = startOffset;
  let number = 0;
  for await (const chunk of createReadStream(file, { start: startOffset, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    const data = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
      number++;
      yield { number, text: data.toString("utf8", start, nl), offset, complete: true };
      offset += nl - start + 1;
      start = nl + 1;
    }
    carry = data.subarray(start);

  }
  if (carry.length > 0) yield { number: number + 1, text: carry.toString("utf8"), offset, complete: false };
}
