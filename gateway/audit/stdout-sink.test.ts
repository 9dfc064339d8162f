import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { createStdoutSink } from "./stdout-sink.ts";

describe("stdout sink", () => {
  it("writes one line per record, and a reader going away (EPIPE) is counted, never thrown", () => {
    const out = new PassThrough();
    const seen: string[] = [];
    out.on("data", (chunk: Buffer) => seen.push(chunk.toString()));
    const sink = createStdoutSink(out);
    sink.write('{"seq":1}');
    expect(seen.join("")).toBe('{"seq":1}\n');
    out.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    expect(() => sink.write('{"seq":2}')).not.toThrow();
    expect(sink.stats()).toMatchObject({ written: 1, dropped: 1, lastError: "write EPIPE" });
  });
});
