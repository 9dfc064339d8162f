/**
 * `audit tail`: the last N records, then (with -f) every new one as it lands, following rotation into new
 * segments. Polls rather than watches: fs.watch is unreliable on network and overlay filesystems, and a quarter
 * second is quick enough for a human.
 */
import { stat } from "node:fs/promises";
import path from "node:path";
import { listSegments, readLines, type AuditRecord } from "../audit/index.ts";

export interface TailPosition {
  segment: string | undefined;
  /** Byte offset of the first line not yet printed. */
  offset: number;
}

const POLL_MS = 250;

async function readFrom(dir: string, segment: string, offset: number): Promise<{ records: AuditRecord[]; offset: number }> {
  const records: AuditRecord[] = [];
  let next = offset;
  for await (const line of readLines(path.join(dir, segment), offset)) {
    if (!line.complete) break;
    records.push(JSON.parse(line.text) as AuditRecord);
    next = line.offset + Buffer.byteLength(line.text) + 1;
  }
  return { records, offset: next };
}

/** The last `count` records, reading segments from the newest back until there are enough. */
export async function lastRecords(dir: string, count: number): Promise<{ records: AuditRecord[]; position: TailPosition }> {
  const segments = await listSegments(dir);
  const newest = segments.at(-1);
  if (newest === undefined) return { records: [], position: { segment: undefined, offset: 0 } };
  const { records: latest, offset } = await readFrom(dir, newest, 0);
  let records = latest;
  for (let i = segments.length - 2; i >= 0 && records.length < count; i--) {
    records = [...(await readFrom(dir, segments[i]!, 0)).records, ...records];
  }
  return { records: count === 0 ? [] : records.slice(-count), position: { segment: newest, offset } };
}

/** Calls `onRecords` with each batch of new records until `signal` aborts. */
export async function followRecords(dir: string, start: TailPosition, signal: AbortSignal, onRecords: (records: AuditRecord[]) => void): Promise<void> {
  let { segment, offset } = start;
  while (!signal.aborted) {
    const segments = await listSegments(dir);
    // Finish the current segment, then move on to each newer one from its start.
    const pending = segment === undefined ? segments : segments.filter((s) => s >= segment!);
    for (const name of pending) {
      if (name !== segment) {
        segment = name;
        offset = 0;
      }
      const size = (await stat(path.join(dir, name)).catch(() => undefined))?.size ?? 0;
      if (size <= offset) continue;
      const read = await readFrom(dir, name, offset);
      offset = read.offset;
      if (read.records.length > 0) onRecords(read.records);
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, POLL_MS);
      signal.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
  }
}
