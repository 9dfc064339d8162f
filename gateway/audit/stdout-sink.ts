/**
 * Each record as one JSON line on stdout, for log shippers (Fluent Bit, Vector) that tail a container's output.
 * Operational logs move to stderr when this sink is on, so the stream carries nothing but records.
 */
import type { AuditSink, SinkStats } from "./sink.ts";

/** Beyond this much unflushed output the reader is not keeping up: drop and count rather than grow without bound. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export function createStdoutSink(out: NodeJS.WritableStream & { writableLength?: number } = process.stdout): AuditSink {
  const stats: SinkStats = { written: 0, dropped: 0, buffered: 0 };
  let broken = false;
  // A reader that goes away (EPIPE) must not take the gateway with it: the file keeps every record.
  out.on("error", (error: Error) => {
    broken = true;
    stats.lastError = error.message;
  });
  return {
    name: "stdout",
    write(line) {
      if (broken || (out.writableLength ?? 0) > MAX_BUFFERED_BYTES) {
        stats.dropped++;
        return;
      }
      out.write(`${line}\n`);
      stats.written++;
    },
    async close() {},
    stats: () => ({ ...stats, buffered: out.writableLength ?? 0 }),
  };
}
