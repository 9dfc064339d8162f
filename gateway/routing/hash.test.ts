import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, definitionHash } from "./hash.ts";

describe("canonicalJson", () => {
  it.each([
    [null, "null"],
    [true, "true"],
    [1.5, "1.5"],
    [Number.NaN, "null"],
    ["a\"b", '"a\\"b"'],
    [[], "[]"],
    [{}, "{}"],
    [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
    [{ z: { y: [{ b: 1, a: 2 }], x: null } }, '{"z":{"x":null,"y":[{"a":2,"b":1}]}}'],
    [{ a: undefined, b: 1 }, '{"b":1}'],
    [[undefined, 1], "[null,1]"],
    [{ B: 1, a: 2, _: 3 }, '{"B":1,"_":3,"a":2}'],
  ])("%j → %s", (value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it("agrees with JSON.stringify on already-sorted plain JSON", () => {
    const value = { a: [1, "two", { c: false, d: null }], b: { e: 1e21, f: -0.5 } };
    expect(canonicalJson(value)).toBe(JSON.stringify(value));
  });
});

describe("definitionHash", () => {
  it("is sha256 hex of the canonical JSON", () => {
    const value = { name: "t", inputSchema: { type: "object" } };
    expect(definitionHash(value)).toBe(createHash("sha256").update('{"inputSchema":{"type":"object"},"name":"t"}').digest("hex"));
  });

  it("ignores key order and sees every edit", () => {
    expect(definitionHash({ a: 1, b: { c: 2, d: 3 } })).toBe(definitionHash({ b: { d: 3, c: 2 }, a: 1 }));
    expect(definitionHash({ a: 1 })).not.toBe(definitionHash({ a: 2 }));
    expect(definitionHash({ a: [1, 2] })).not.toBe(definitionHash({ a: [2, 1] }));
  });
});
