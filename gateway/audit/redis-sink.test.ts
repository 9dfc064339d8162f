/** The Redis audit sink against a real redis-server (test/helpers/redis.ts), including real outages. */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type RunningRedis } from "../../test/helpers/redis.ts";
import type { AuditSink } from "./sink.ts";
import { createRedisSink } from "./redis-sink.ts";
import { waitFor } from "../upstream/testing.ts";

let server: RunningRedis;
let check: Redis;
let streams = 0;
const nextStream = () => `gatehouse:audit:test:${++streams}`;
const lines = (count: number, from = 0) => Array.from({ length: count }, (_, i) => JSON.stringify({ seq: from + i, tool: "notes.add", ok: true }));

/**
 * Bounded polling, as in test/helpers/gateway.ts; that helper is not imported because it loads the whole gateway,
 * and this sink's tests should not depend on anything beyond the sink.
 */
async function recordsIn(stream: string): Promise<string[]> {
  const entries = await check.xrange(stream, "-", "+");
  return entries.map(([, fields]) => {
    expect(fields[0]).toBe("record");
    return fields[1]!;
  });
}

async function delivered(sink: AuditSink, count: number, what: string): Promise<void> {
  await waitFor(() => sink.stats().written === count, `${what}: ${count} written`, 10_000);
}

beforeAll(async () => {
  server = await startRedis();
  check = new Redis(server.url);
  // The checking client sees the outages too; it reconnects by itself and has nothing to report.
  check.on("error", () => undefined);
});

afterAll(async () => {
  check?.disconnect();
  await server?.stop();
});

describe("Redis audit sink against a real redis-server", () => {
  it("appends records to the stream in order, in the `record` field", async () => {
    const stream = nextStream();
    const sink = createRedisSink({ url: server.url, stream, maxLen: 10_000 });
    expect(sink.name).toBe(`redis:127.0.0.1:${server.port}/${stream}`);
    const first = lines(150);
    const second = lines(150, 150);
    for (const line of first) sink.write(line);
    await new Promise((r) => setImmediate(r));
    for (const line of second) sink.write(line);
    await delivered(sink, 300, "in-order writes");
    expect(await recordsIn(stream)).toEqual([...first, ...second]);
    expect(sink.stats()).toEqual({ written: 300, dropped: 0, buffered: 0 });
    await sink.close();
  });

  it("close() delivers what is still buffered while Redis is up", async () => {
    const stream = nextStream();
    const sink = createRedisSink({ url: server.url, stream, maxLen: 10_000 });
    const records = lines(500);
    for (const line of records) sink.write(line);
    await sink.close();
    expect(await recordsIn(stream)).toEqual(records);
    expect(sink.stats()).toMatchObject({ written: 500, buffered: 0 });
  });

  it("trims the stream approximately to maxLen", async () => {
    const stream = nextStream();
    const sink = createRedisSink({ url: server.url, stream, maxLen: 1_000 });
    const records = lines(5_000);
    for (const line of records) sink.write(line);
    await delivered(sink, 5_000, "5,000 writes");
    const length = await check.xlen(stream);
    expect(length).toBeGreaterThanOrEqual(1_000);
    expect(length).toBeLessThan(1_500);
    // Trimming takes from the head: the newest record is always there.
    const [last] = await check.xrevrange(stream, "+", "-", "COUNT", 1);
    expect(last?.[1]).toEqual(["record", records.at(-1)]);
    await sink.close();
  });

  it("buffers through a real outage without throwing or blocking, then delivers in order after restart", async () => {
    const stream = nextStream();
    const sink = createRedisSink({ url: server.url, stream, maxLen: 10_000 });
    const before = lines(10);
    for (const line of before) sink.write(line);
    await delivered(sink, 10, "before the outage");

    await server.stop();
    let down = true;
    try {
      const during = lines(2_000, 10);
      const started = performance.now();
      for (const line of during) expect(() => sink.write(line)).not.toThrow();
      expect(performance.now() - started).toBeLessThan(500);
      await waitFor(() => sink.stats().lastError !== undefined, "lastError during the outage", 5_000);
      expect(sink.stats()).toMatchObject({ written: 10, dropped: 0, buffered: 2_000 });
      const after = lines(5, 2_010);
      for (const line of after) sink.write(line);
      expect(sink.stats().buffered).toBe(2_005);

      await server.restart();
      down = false;
      await delivered(sink, 2_015, "after restart");
      // The server restarts empty (no persistence), so the stream holds exactly what the sink buffered.
      expect(await recordsIn(stream)).toEqual([...during, ...after]);
      expect(sink.stats()).toMatchObject({ written: 2_015, dropped: 0, buffered: 0 });
    } finally {
      if (down) await server.restart();
      await sink.close();
    }
  });

  it("drops exactly the oldest records beyond maxBuffered during an outage", async () => {
    const stream = nextStream();
    const sink = createRedisSink({ url: server.url, stream, maxLen: 10_000, maxBuffered: 50 });
    sink.write("probe");
    await delivered(sink, 1, "probe");

    await server.stop();
    let down = true;
    try {
      const during = lines(80);
      for (const line of during) sink.write(line);
      await waitFor(() => sink.stats().lastError !== undefined, "lastError during the outage", 5_000);
      expect(sink.stats()).toMatchObject({ written: 1, dropped: 30, buffered: 50 });

      await server.restart();
      down = false;
      await delivered(sink, 51, "after restart");
      expect(await recordsIn(stream)).toEqual(during.slice(30));
      expect(sink.stats()).toMatchObject({ written: 51, dropped: 30, buffered: 0 });
    } finally {
      if (down) await server.restart();
      await sink.close();
    }
  });

  it("close() returns within its bound while Redis is down", async () => {
    const sink = createRedisSink({ url: server.url, stream: nextStream(), maxLen: 10_000 });
    sink.write("probe");
    await delivered(sink, 1, "probe");

    await server.stop();
    let down = true;
    try {
      for (const line of lines(100)) sink.write(line);
      const started = performance.now();
      await sink.close();
      expect(performance.now() - started).toBeLessThan(2_500);
      expect(sink.stats()).toMatchObject({ written: 1, buffered: 100 });
      sink.write("after close");
      expect(sink.stats().dropped).toBe(1);
      await server.restart();
      down = false;
    } finally {
      if (down) await server.restart();
    }
  });
});
