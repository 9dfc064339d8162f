import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, deepFreeze, GENESIS, sha256Hex } from "./canonical.ts";
import { recomputeHash, sealRecord } from "./record.ts";
import { entry } from "./testing.ts";

describe("canonicalJson", () => {
  it.each([
    { name: "keys sorted, at every depth", value: { b: 1, a: { d: [1, { z: 0, y: 1 }], c: 2 } }, json: '{"a":{"c":2,"d":[1,{"y":1,"z":0}]},"b":1}' },
    { name: "keys sorted by UTF-16 code units, not locale", value: { b: 1, B: 2, "é": 3, "10": 4, "9": 5 }, json: '{"10":4,"9":5,"B":2,"b":1,"é":3}' },
    { name: "undefined and function members dropped", value: { a: undefined, b: 1, f: () => 1 }, json: '{"b":1}' },
    { name: "undefined in arrays becomes null", value: [undefined, 1], json: "[null,1]" },
    { name: "non-finite numbers become null", value: { n: Number.NaN, i: Number.POSITIVE_INFINITY }, json: '{"i":null,"n":null}' },
    { name: "strings escaped as JSON.stringify does", value: { s: 'a"b\\c\n\u2028' }, json: `{"s":${JSON.stringify('a"b\\c\n\u2028')}}` },
    { name: "no whitespace", value: { a: [1, 2], b: { c: null } }, json: '{"a":[1,2],"b":{"c":null}}' },
    { name: "scalars", value: "x", json: '"x"' },
    { name: "null", value: null, json: "null" },
    { name: "a top-level undefined", value: undefined, json: "null" },
    { name: "a __proto__ key from JSON.parse stays a key", value: JSON.parse('{"__proto__":{"x":1},"a":0}') as unknown, json: '{"__proto__":{"x":1},"a":0}' },
  ])("$name", ({ value, json }) => {
    expect(canonicalJson(value)).toBe(json);
  });

  it("sha256Hex is the hex SHA-256 of the UTF-8 bytes", () => {
    expect(sha256Hex("é")).toBe(createHash("sha256").update(Buffer.from("é", "utf8")).digest("hex"));
    expect(GENESIS).toMatch(/^0{64}$/);
  });
});

describe("sealRecord", () => {
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

describe("frozen values", () => {
  it("serialize exactly as their unfrozen twins, also when reached again from another record", () => {
    const claims = { sub: "a", iss: "https://issuer/", nested: { z: [3, { y: 1, x: 2 }], "10": true, "9": false } };
    const plain = canonicalJson({ b: claims, a: claims });
    const frozen = deepFreeze(structuredClone(claims));
    expect(Object.isFrozen(frozen.nested.z[1])).toBe(true);
    expect(canonicalJson({ b: frozen, a: frozen })).toBe(plain);
    expect(canonicalJson({ a: frozen, b: frozen })).toBe(plain);
  });
});
