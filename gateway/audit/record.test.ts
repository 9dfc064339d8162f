import { describe, expect, it } from "vitest";
import { canonicalJson, sha256Hex } from "../protocol/index.ts";
import { GENESIS, recomputeHash, sealRecord } from "./record.ts";
import { entry } from "./testing.ts";

describe("sealRecord", () => {
  it("chains from GENESIS, 64 zeros", () => {
    expect(GENESIS).toMatch(/^0{64}$/);
  });

  it("hashes the canonical record without its hash, and writes a line that parses back to it", () => {
    const { record, line } = sealRecord(entry({ tool: undefined }), 7, "a".repeat(64));
    const { hash, ...rest } = record;
    expect(hash).toBe(sha256Hex(canonicalJson(rest)));
    expect(JSON.parse(line)).toEqual(record);
    expect(line).not.toContain('"tool"');
    expect(recomputeHash(JSON.parse(line) as Record<string, unknown>)).toBe(hash);
  });

  it.each([
    { name: "seq", change: (r: Record<string, unknown>) => (r.seq = 8) },
    { name: "prev", change: (r: Record<string, unknown>) => (r.prev = GENESIS) },
    { name: "a nested value", change: (r: Record<string, unknown>) => ((r.decision as { result: string }).result = "deny") },
  ])("recomputeHash changes when $name changes", ({ change }) => {
    const { line } = sealRecord(entry(), 7, "a".repeat(64));
    const parsed = JSON.parse(line) as Record<string, unknown>;
    change(parsed);
    expect(recomputeHash(parsed)).not.toBe(parsed.hash);
  });
});
