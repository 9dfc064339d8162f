/**
 * The append side of the audit log: one hash chain per directory, written as JSONL segments.
 *
 * Durability. `sync`: appends made while a write is in flight are committed together (group commit), and each
 * append resolves only after its bytes are fdatasync'ed, so the reply that waits for it is never ahead of the
 * disk. `batched`: append resolves at once and the batch is written and synced every `batchWindowMs`; a crash
 * loses at most that window.
 *
 * A write error fails the log closed: every later append rejects, and the pipeline refuses requests rather than
 * serve them unrecorded.
 */
import { mkdir, open, rename, truncate, unlink, writeFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { logger } from "../log.ts";
import { GENESIS } from "./record.ts";
import { appendCheckpoint, cutTornCheckpoint, signCheckpoint, type CheckpointPayload, type CheckpointSigner } from "./checkpoints.ts";
import { acquireLock, type DirectoryLock } from "./lock.ts";
import { sealRecord, type AuditEntry, type AuditRecord } from "./record.ts";
import { listSegments, readLines, readSummary, segmentName, summaryName, SummaryBuilder, type SegmentSummary } from "./segments.ts";
import type { AuditSink, SinkStats } from "./sink.ts";

const log = logger("audit");

export interface AuditLogOptions {
  dir: string;
  replica: string;
  durability: "sync" | "batched";
  batchWindowMs: number;
  maxSegmentBytes: number;
  maxSegmentAgeMs: number;
  checkpointEvery: number;
  checkpointIntervalMs: number;
  retention: { maxAgeMs?: number; maxTotalBytes?: number };
  signer: CheckpointSigner;
  sinks: AuditSink[];
}

interface Pending {
  record: AuditRecord;
  line: string;
  resolve?: () => void;
  reject?: (error: Error) => void;
}

export interface AuditLogStats {
  appended: number;
  durableSeq: number;
  checkpoints: number;
  segments: number;
  failed: string | undefined;
  sinks: Record<string, SinkStats>;
}

export class AuditUnavailableError extends Error {
  constructor(reason: string) {
    super(`audit log unavailable: ${reason}`);
    this.name = "AuditUnavailableError";
  }
}

export class AuditLog {
  readonly dir: string;
  private readonly options: AuditLogOptions;
  private readonly lock: DirectoryLock;
  private seq: number;
  private head: string;
  private durableSeq: number;
  private durableHash: string;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private file: { handle: FileHandle; name: string; openedAt: number; bytes: number; summary: SummaryBuilder } | undefined;
  private readonly sealed: SegmentSummary[];
  private lastCheckpointSeq: number;
  private checkpointing: Promise<void> = Promise.resolve();
  private checkpointCount = 0;
  private readonly checkpointTimer: NodeJS.Timeout;
  private failure: Error | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(options: AuditLogOptions, lock: DirectoryLock, state: RecoveredState) {
    this.options = options;
    this.dir = options.dir;
    this.lock = lock;
    this.seq = this.durableSeq = this.lastCheckpointSeq = state.seq;
    this.head = this.durableHash = state.head;
    this.sealed = state.sealed;
    this.checkpointTimer = setInterval(() => this.checkpointIfDue(true), options.checkpointIntervalMs);
    this.checkpointTimer.unref();
  }

  /** Opens (or creates) the directory, recovers the chain's head, and cuts a torn tail left by a crash. */
  static async open(options: AuditLogOptions): Promise<AuditLog> {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    const lock = await acquireLock(options.dir);
    try {
      const state = await recover(options.dir);
      return new AuditLog(options, lock, state);
    } catch (error) {
      await lock.release();
      throw error;
    }
  }

  get healthy(): boolean {
    return this.failure === undefined && !this.closed;
  }

  /** Why the log refuses appends, if it does. */
  get unavailableReason(): string | undefined {
    return this.closed ? "closed" : this.failure?.message;
  }

  /** Sealed segments' summaries plus the live one's, oldest first: what queries use to skip segments. */
  summaries(): SegmentSummary[] {
    const live = this.file?.summary;
    return live !== undefined && live.size > 0 ? [...this.sealed, live.build()] : [...this.sealed];
  }

  /**
   * Seals the entry into the chain now (its seq and prev are fixed by call order) and resolves when it is as
   * durable as the configured mode promises.
   */
  append(entry: AuditEntry): Promise<void> {
    if (!this.healthy) return Promise.reject(new AuditUnavailableError(this.unavailableReason ?? "unknown"));
    const { record, line } = sealRecord(entry, this.seq + 1, this.head);
    this.seq = record.seq;
    this.head = record.hash;
    if (this.options.durability === "batched") {
      this.pending.push({ record, line });
      this.schedule();
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ record, line, resolve, reject });
      this.schedule();
    });
  }

  stats(): AuditLogStats {
    return {
      appended: this.seq,
      durableSeq: this.durableSeq,
      checkpoints: this.checkpointCount,
      segments: this.sealed.length + (this.file ? 1 : 0),
      failed: this.failure?.message,
      sinks: Object.fromEntries(this.options.sinks.map((s) => [s.name, s.stats()])),
    };
  }

  /** Writes what is pending, signs a final checkpoint, seals the live segment. Appends after this reject. */
  close(): Promise<void> {
    // Once: a second concurrent close would close the sinks twice and release the lock again, possibly after
    // another writer has taken the directory.
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.checkpointTimer);
    await this.flushNow();
    this.closed = true;
    if (this.failure === undefined) {
      this.checkpointIfDue(true);
      await this.checkpointing;
      await this.sealFile().catch((error: unknown) => log.error({ err: (error as Error).message }, "could not seal the audit segment"));
    } else if (this.file !== undefined) {
      // Failed: nothing more is written or sealed, but the live segment's descriptor is still open.
      const { handle } = this.file;
      this.file = undefined;
      await handle.close().catch(() => {});
    }
    await Promise.allSettled(this.options.sinks.map((s) => s.close()));
    await this.lock.release();
  }

  /** Forces the pending batch out now (tests, shutdown). */
  async flushNow(): Promise<void> {
    while (this.flushing !== undefined || this.pending.length > 0) {
      if (this.flushing === undefined) this.startFlush();
      await this.flushing;
    }
  }

  private schedule(): void {
    if (this.flushing !== undefined || this.timer !== undefined) return;
    // sync: flush on the next turn, gathering every append made in this one. batched: once per window.
    const delay = this.options.durability === "sync" ? 0 : this.options.batchWindowMs;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.startFlush();
    }, delay);
  }

  private startFlush(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.flushing !== undefined || this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.flushing = this.writeBatch(batch).finally(() => {
      this.flushing = undefined;
      if (this.pending.length > 0) this.schedule();
    });
  }

  private async writeBatch(batch: Pending[]): Promise<void> {
    try {
      if (this.failure !== undefined) throw this.failure;
      const file = await this.fileFor(batch[0]!.record);
      const buffer = Buffer.from(batch.map((p) => p.line).join("\n") + "\n", "utf8");
      let written = 0;
      while (written < buffer.length) written += (await file.handle.write(buffer, written)).bytesWritten;
      await file.handle.datasync();
      file.bytes += buffer.length;
      for (const p of batch) file.summary.add(p.record, Buffer.byteLength(p.line));
      const last = batch[batch.length - 1]!.record;
      this.durableSeq = last.seq;
      this.durableHash = last.hash;
    } catch (error) {
      this.fail(error as Error, batch);
      return;
    }
    for (const p of batch) p.resolve?.();
    for (const sink of this.options.sinks) {
      try {
        for (const p of batch) sink.write(p.line);
      } catch (error) {
        // A copy failing must never touch the record of truth, which is already on disk.
        log.error({ sink: sink.name, err: (error as Error).message }, "audit sink failed");
      }
    }
    this.checkpointIfDue(false);
  }

  private fail(error: Error, batch: Pending[]): void {
    if (this.failure === undefined) {
      this.failure = error;
      log.fatal({ err: error.message, dir: this.dir }, "audit log write failed; refusing requests until it is fixed and the gateway restarts");
    }
    const unavailable = new AuditUnavailableError(error.message);
    for (const p of [...batch, ...this.pending]) p.reject?.(unavailable);
    this.pending = [];
  }

  /** The live segment for the next batch, rotating by size or age first. */
  private async fileFor(first: AuditRecord) {
    const now = Date.now();
    if (this.file !== undefined && (this.file.bytes >= this.options.maxSegmentBytes || now - this.file.openedAt >= this.options.maxSegmentAgeMs)) {
      await this.sealFile();
      // Retention is housekeeping: a failure is logged and retried at the next rotation, never a failed append.
      await this.enforceRetention().catch((error: unknown) => log.error({ err: (error as Error).message }, "audit retention failed"));
    }
    if (this.file === undefined) {
      const name = segmentName(first.seq);
      const handle = await open(path.join(this.dir, name), "a", 0o600);
      // The new file's directory entry must be durable too, or an fsynced record could sit in a file that a
      // power cut makes disappear.
      await syncDirectory(this.dir);
      this.file = { handle, name, openedAt: now, bytes: 0, summary: new SummaryBuilder(name) };
    }
    return this.file;
  }

  private async sealFile(): Promise<void> {
    const file = this.file;
    if (file === undefined) return;
    this.file = undefined;
    await file.handle.close();
    if (file.summary.size === 0) return;
    const summary = file.summary.build();
    await writeSummary(this.dir, summary);
    this.sealed.push(summary);
  }

  private checkpointIfDue(onTimer: boolean): void {
    const behind = this.durableSeq - this.lastCheckpointSeq;
    if (behind <= 0 || (!onTimer && behind < this.options.checkpointEvery)) return;
    this.lastCheckpointSeq = this.durableSeq;
    const payload: CheckpointPayload = { kind: "checkpoint", replica: this.options.replica, seq: this.durableSeq, head: this.durableHash, time: new Date().toISOString() };
    this.queueCheckpoint(payload);
  }

  private queueCheckpoint(payload: CheckpointPayload): Promise<void> {
    const run = this.checkpointing.then(async () => {
      await appendCheckpoint(this.dir, await signCheckpoint(this.options.signer, payload));
      this.checkpointCount++;
    });
    this.checkpointing = run.catch((error: unknown) => log.error({ err: (error as Error).message }, "could not write an audit checkpoint"));
    return run;
  }

  /**
   * Cuts whole sealed segments, oldest first, by age or total size: never the newest sealed one, so a restart
   * always finds the chain's head on disk. The signed retention checkpoint goes first; only then are files removed.
   */
  private async enforceRetention(): Promise<void> {
    const { maxAgeMs, maxTotalBytes } = this.options.retention;
    if (maxAgeMs === undefined && maxTotalBytes === undefined) return;
    let total = this.sealed.reduce((sum, s) => sum + s.bytes, 0);
    const cutoff = maxAgeMs === undefined ? undefined : new Date(Date.now() - maxAgeMs).toISOString();
    const removed: SegmentSummary[] = [];
    for (const summary of this.sealed.slice(0, -1)) {
      const tooOld = cutoff !== undefined && summary.toTime < cutoff;
      const tooBig = maxTotalBytes !== undefined && total > maxTotalBytes;
      if (!tooOld && !tooBig) break;
      removed.push(summary);
      total -= summary.bytes;
    }
    if (removed.length === 0) return;
    const last = removed[removed.length - 1]!;
    await this.queueCheckpoint({
      kind: "retention",
      replica: this.options.replica,
      seq: this.durableSeq,
      head: this.durableHash,
      time: new Date().toISOString(),
      removedThroughSeq: last.lastSeq,
      anchor: last.lastHash,
      removedSegments: removed.map((s) => s.segment),
    });
    for (const summary of removed) {
      await unlink(path.join(this.dir, summary.segment)).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== "ENOENT") throw error;
      });
      await unlink(path.join(this.dir, summaryName(summary.segment))).catch(() => {});
    }
    this.sealed.splice(0, removed.length);
    log.info({ segments: removed.map((s) => s.segment), throughSeq: last.lastSeq }, "audit retention cut segments");
  }
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeSummary(dir: string, summary: SegmentSummary): Promise<void> {
  const target = path.join(dir, summaryName(summary.segment));
  await writeFile(`${target}.tmp`, JSON.stringify(summary), { mode: 0o600, flush: true });
  await rename(`${target}.tmp`, target);
}

interface RecoveredState {
  seq: number;
  head: string;
  sealed: SegmentSummary[];
}

/**
 * Every existing segment becomes sealed: a new run starts a new segment. A segment without a summary (the
 * previous run crashed) is scanned to build one, and a torn last line is cut: it was never acknowledged.
 */
async function recover(dir: string): Promise<RecoveredState> {
  if (await cutTornCheckpoint(dir)) log.warn({ dir }, "cut a torn last audit checkpoint left by a crash");
  const segments = await listSegments(dir);
  const sealed: SegmentSummary[] = [];
  let seq = 0;
  let head = GENESIS;
  for (const segment of segments) {
    let summary = await readSummary(dir, segment);
    if (summary === undefined) {
      summary = await summarize(dir, segment);
      if (summary !== undefined) await writeSummary(dir, summary);
    }
    if (summary === undefined) {
      await unlink(path.join(dir, segment));
      continue;
    }
    sealed.push(summary);
    seq = summary.lastSeq;
    head = summary.lastHash;
  }
  return { seq, head, sealed };
}

async function summarize(dir: string, segment: string): Promise<SegmentSummary | undefined> {
  const file = path.join(dir, segment);
  const builder = new SummaryBuilder(segment);
  for await (const line of readLines(file)) {
    if (!line.complete) {
      log.warn({ segment, offset: line.offset }, "cutting a torn last audit line left by a crash (it was never acknowledged)");
      await truncate(file, line.offset);
      break;
    }
    let record: AuditRecord;
    try {
      record = JSON.parse(line.text) as AuditRecord;
    } catch {
      throw new Error(`${file}:${line.number}: not a JSON record; run \`gatehouse audit verify\` before appending to this chain`);
    }
    builder.add(record, Buffer.byteLength(line.text));
  }
  return builder.size > 0 ? builder.build() : undefined;
}
