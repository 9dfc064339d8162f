/**
 * `gatehouse audit verify`: rebuilds every record's hash, follows the chain across segments, and holds it against
 * the signed checkpoints. Edits break a hash; deletions, insertions and reordering break seq or prev; truncation
 * behind a checkpoint leaves the checkpoint's head missing; a forged checkpoint fails its signature.
 *
 * It stops at the first break and names that record: after a break, "the next record is wrong" says nothing new.
 */
import path from "node:path";
import type { JWK } from "jose";
import { canonicalJson } from "../protocol/index.ts";
import { GENESIS } from "./record.ts";
import { readCheckpointLines, verifyCheckpoints, type CheckpointPayload } from "./checkpoints.ts";
import { recomputeHash, type AuditRecord } from "./record.ts";
import { firstSeqOf, listSegments, readLines, readSummary, summaryName, SummaryBuilder } from "./segments.ts";

export interface VerifyReport {
  ok: boolean;
  records: number;
  segments: number;
  checkpoints: number;
  /** The seq of the first record on disk (after retention cuts) and the last. */
  firstSeq: number;
  lastSeq: number;
  head: string;
  /** The first break, precise enough to open the file at it. */
  problem?: { file: string; line?: number; seq?: number; reason: string };
  /** Not failures: a torn last line (a crash mid-write), records not yet covered by a checkpoint, stale summaries. */
  warnings: string[];
}

interface Covered {
  line: number;
  payload: CheckpointPayload;
}

export async function verifyAuditDir(dir: string, trusted: readonly JWK[]): Promise<VerifyReport> {
  const report: VerifyReport = { ok: false, records: 0, segments: 0, checkpoints: 0, firstSeq: 0, lastSeq: 0, head: GENESIS, warnings: [] };
  const fail = (problem: NonNullable<VerifyReport["problem"]>): VerifyReport => ({ ...report, ok: false, problem });

  const checkpoints: Covered[] = [];
  const { lines: checkpointLines, torn } = await readCheckpointLines(dir);
  if (torn !== undefined) {
    // A crash cannot leave a whole, validly signed JWS that lacks only its newline: removing that one byte must
    // not make a real checkpoint disappear. A torn line that verifies is enforced like any other.
    const [tornResult] = await verifyCheckpoints([torn], trusted);
    if (tornResult?.payload !== undefined) {
      checkpoints.push({ line: checkpointLines.length + 1, payload: tornResult.payload });
      report.warnings.push(`checkpoints.jsonl:${checkpointLines.length + 1}: the last checkpoint lacks its newline; it verifies, so it is enforced`);
    } else {
      report.warnings.push(`checkpoints.jsonl:${checkpointLines.length + 1}: torn last line (a checkpoint cut short by a crash; ignored)`);
    }
  }
  for (const result of await verifyCheckpoints(checkpointLines, trusted)) {
    if (result.problem !== undefined || result.payload === undefined) {
      return fail({ file: "checkpoints.jsonl", line: result.line, reason: `checkpoint ${result.problem ?? "is unreadable"}` });
    }
    checkpoints.push({ line: result.line, payload: result.payload });
  }
  report.checkpoints = checkpoints.length;

  // The newest retention checkpoint says where the chain now starts and what it hangs from.
  const retention = checkpoints
    .filter((c) => c.payload.kind === "retention" && c.payload.removedThroughSeq !== undefined)
    .sort((a, b) => a.payload.removedThroughSeq! - b.payload.removedThroughSeq!)
    .at(-1)?.payload;
  const cutThrough = retention?.removedThroughSeq ?? 0;
  let expectedSeq = cutThrough + 1;
  let prev = retention?.anchor ?? GENESIS;
  const pins = checkpoints.filter((c) => c.payload.seq > cutThrough).sort((a, b) => a.payload.seq - b.payload.seq);
  let pin = 0;

  // A retention cut signs its checkpoint before it removes the files: a crash in between leaves segments that a
  // signed checkpoint lists as removed. They are no longer part of the chain (the writer's next cut removes them).
  const removed = new Set(checkpoints.flatMap((c) => (c.payload.kind === "retention" ? (c.payload.removedSegments ?? []) : [])));
  const leftOver = (segment: string) => removed.has(segment) && firstSeqOf(segment) <= cutThrough;
  const listed = await listSegments(dir);
  for (const segment of listed.filter(leftOver)) report.warnings.push(`${segment}: left over from an interrupted retention cut (a checkpoint lists it as removed); not verified`);
  const segments = listed.filter((s) => !leftOver(s));
  report.segments = segments.length;
  let summaryProblem: VerifyReport["problem"];
  for (const [index, segment] of segments.entries()) {
    const isLast = index === segments.length - 1;
    if (firstSeqOf(segment) !== expectedSeq) {
      return fail({ file: segment, reason: `segment should start at seq ${expectedSeq} but is named for seq ${firstSeqOf(segment)} (a segment was deleted, inserted or renamed)` });
    }
    let count = 0;
    const rebuilt = new SummaryBuilder(segment);
    for await (const line of readLines(path.join(dir, segment))) {
      const at = { file: segment, line: line.number };
      if (!line.complete) {
        if (isLast) {
          report.warnings.push(`${segment}:${line.number}: torn last line (a write cut short by a crash; it was never acknowledged)`);
          break;
        }
        return fail({ ...at, reason: "incomplete line in the middle of the chain" });
      }
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line.text) as Record<string, unknown>;
      } catch {
        return fail({ ...at, reason: "not valid JSON: the line was edited" });
      }
      const seq = typeof record.seq === "number" ? record.seq : undefined;
      if (typeof record.hash !== "string" || recomputeHash(record) !== record.hash) {
        return fail({ ...at, seq, reason: "hash mismatch: the record was edited" });
      }
      if (seq !== expectedSeq) {
        return fail({ ...at, seq, reason: `seq ${seq} where ${expectedSeq} was expected: a record was deleted, inserted or moved` });
      }
      if (record.prev !== prev) {
        return fail({ ...at, seq, reason: "prev does not match the previous record's hash: a record before it was removed, replaced or reordered" });
      }
      while (pin < pins.length && pins[pin]!.payload.seq === seq) {
        const { line: cpLine, payload } = pins[pin]!;
        if (payload.head !== record.hash) {
          return fail({ ...at, seq, reason: `does not match the signed checkpoint (checkpoints.jsonl line ${cpLine}): the chain was rewritten` });
        }
        pin++;
      }
      if (report.records === 0) report.firstSeq = seq;
      prev = record.hash as string;
      report.records++;
      report.lastSeq = seq;
      count++;
      expectedSeq++;
      rebuilt.add(record as unknown as AuditRecord, Buffer.byteLength(line.text));
    }
    const summary = await readSummary(dir, segment);
    // Queries skip segments by their summary, so an edited summary could hide records from auditors.
    if (summary !== undefined && canonicalJson(summary) !== canonicalJson(rebuilt.build())) {
      // Reported after the chain checks: a truncated segment also has a stale summary, and "truncated" says more.
      summaryProblem ??= { file: summaryName(segment), reason: "the summary disagrees with its segment's records: queries trusting it could skip records" };
    }
  }
  report.head = prev;
  if (pin < pins.length) {
    const { line, payload } = pins[pin]!;
    return fail({
      file: segments.at(-1) ?? "(no segments)",
      seq: report.lastSeq,
      reason: `truncated: checkpoints.jsonl line ${line} covers records through seq ${payload.seq}, but the log ends at seq ${report.lastSeq}`,
    });
  }
  if (summaryProblem !== undefined) return fail(summaryProblem);
  const lastPinned = pins.at(-1)?.payload.seq ?? cutThrough;
  if (report.lastSeq > lastPinned) {
    report.warnings.push(`records ${Math.max(lastPinned + 1, report.firstSeq)}…${report.lastSeq} are after the last checkpoint: truncation there cannot be detected yet`);
  }
  return { ...report, ok: true };
}
