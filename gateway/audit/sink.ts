/**
 * Where audit records go besides the segment files. The files are the record of truth (hash-chained, fsynced
 * before the reply); sinks are copies for collectors and shippers, fed after a record is durable. A sink must
 * never block or fail an append: it buffers within a bound, counts what it drops, and recovers on its own.
 */
export interface AuditSink {
  readonly name: string;
  /** `line` is the record's exact JSON line as written to the segment (no trailing newline). */
  write(line: string): void;
  /** Flushes what it can within a short bound, then releases its resources. */
  close(): Promise<void>;
  stats(): SinkStats;
}

export interface SinkStats {
  /** Records handed to the destination. */
  written: number;
  /** Records dropped because the buffer was full while the destination was away. */
  dropped: number;
  /** Records waiting in the buffer. */
  buffered: number;
  /** The last delivery error, if any. */
  lastError?: string;
}
