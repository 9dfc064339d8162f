import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { canonicalJson, deepFreeze, sha256Hex } from "./canonical-json.ts";

/** An independent reference for plain JSON data: the spec's rules written out member by member. */
function reference(value: unknown): string {
  if (value === null || typeof value !== "object") return typeof value === "number" && !Number.isFinite(value) ? "null" : (JSON.stringify(value) ?? "null");
  if (Array.isArray(value)) return `[${value.map((v: unknown) => (v === undefined || typeof v === "function" ? "null" : reference(v))).join(",")}]`;
  const members = Object.keys(value)
    .sort()
    .filter((k) => (value as Record<string, unknown>)[k] !== undefined && typeof (value as Record<string, unknown>)[k] !== "function")
    .map((k) => `${JSON.stringify(k)}:${reference((value as Record<string, unknown>)[k])}`);
  return `{${members.join(",")}}`;
}

describe("canonicalJson", () => {
  it.each([
    { name: "null", value: null, json: "null" },
    { name: "true", value: true, json: "true" },
    { name: "a number", value: 1.5, json: "1.5" },
    { name: "a string", value: "x", json: '"x"' },
    { name: "a top-level undefined", value: undefined, json: "null" },
    { name: "a top-level function", value: () => 1, json: "null" },
    { name: "empty containers", value: [[], {}], json: "[[],{}]" },
    { name: "keys sorted, at every depth", value: { b: 1, a: { d: [1, { z: 0, y: 1 }], c: 2 } }, json: '{"a":{"c":2,"d":[1,{"y":1,"z":0}]},"b":1}' },
    { name: "keys sorted by UTF-16 code units, not locale", value: { b: 1, B: 2, "é": 3, _: 4 }, json: '{"B":2,"_":4,"b":1,"é":3}' },
    { name: "integer-like keys sorted as strings", value: { b: 1, B: 2, "é": 3, "10": 4, "9": 5 }, json: '{"10":4,"9":5,"B":2,"b":1,"é":3}' },
    { name: "an integer-like key after a punctuation key", value: { "5": 1, $a: 2 }, json: '{"$a":2,"5":1}' },
    { name: "integer-like keys deep inside an otherwise sorted value", value: { a: [{ x: { "10": 1, "9": 2 } }] }, json: '{"a":[{"x":{"10":1,"9":2}}]}' },
    { name: "a lone integer-like key", value: { "7": true }, json: '{"7":true}' },
    { name: "undefined and function members dropped", value: { a: undefined, b: 1, f: () => 1 }, json: '{"b":1}' },
    { name: "undefined in arrays becomes null", value: [undefined, 1], json: "[null,1]" },
    { name: "non-finite numbers become null", value: { n: Number.NaN, i: Number.POSITIVE_INFINITY }, json: '{"i":null,"n":null}' },
    { name: "-0 is 0", value: [-0], json: "[0]" },
    { name: "strings escaped as JSON.stringify does", value: { s: 'a"b\\c\n\u2028\ud800' }, json: `{"s":${JSON.stringify('a"b\\c\n\u2028\ud800')}}` },
    { name: "no whitespace", value: { a: [1, 2], b: { c: null } }, json: '{"a":[1,2],"b":{"c":null}}' },
    { name: "a __proto__ key from JSON.parse stays a key", value: JSON.parse('{"__proto__":{"x":1},"a":0}') as unknown, json: '{"__proto__":{"x":1},"a":0}' },
    { name: "a __proto__ key sorted after others", value: JSON.parse('{"b":{"d":1,"c":2},"__proto__":[1]}') as unknown, json: '{"__proto__":[1],"b":{"c":2,"d":1}}' },
    { name: "a null-prototype object", value: Object.assign(Object.create(null) as object, { b: 1, a: 2 }), json: '{"a":2,"b":1}' },
    { name: "a Date is its own (no) members, not its toJSON", value: { d: new Date(0) }, json: '{"d":{}}' },
    { name: "a bigint is its decimal digits", value: { n: 10n }, json: '{"n":10}' },
    { name: "a toJSON method is a member like any function (dropped), not a replacement", value: { b: 1, a: 2, toJSON: () => "x" }, json: '{"a":2,"b":1}' },
    { name: "a nested toJSON method too", value: { a: { toJSON: () => 42, b: 1 } }, json: '{"a":{"b":1}}' },
    { name: "an array with a toJSON method is still its items", value: Object.assign([1, 2], { toJSON: () => "arr" }), json: "[1,2]" },
    { name: "a toJSON string member is data", value: JSON.parse('{"toJSON":"x","a":1}') as unknown, json: '{"a":1,"toJSON":"x"}' },
  ])("$name", ({ value, json }) => {
    expect(canonicalJson(value)).toBe(json);
  });

  it("never mutates its input", () => {
    const value = { b: { d: 1, c: [{ f: 1, e: 2 }] }, a: 0 };
    const before = JSON.stringify(value);
    canonicalJson(value);
    expect(JSON.stringify(value)).toBe(before);
  });

  it("agrees with the reference on 2,000 random JSON values (seeded)", () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
    const keys = ["a", "b", "B", "_", "é", "0", "1", "9", "10", "01", "-1", "1.5", "__proto__", "zz", "$", " "];
    const value = (depth: number): unknown => {
      const r = random();
      if (depth > 3 || r < 0.35) return [null, true, false, 0, -0, 1e21, 0.1, -7, "s", "é\n\u2028", "10", undefined][Math.floor(random() * 12)];
      if (r < 0.6) return Array.from({ length: Math.floor(random() * 4) }, () => value(depth + 1));
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 5); i > 0; i--) Object.defineProperty(object, keys[Math.floor(random() * keys.length)]!, { value: value(depth + 1), enumerable: true, writable: true, configurable: true });
      return object;
    };
    for (let i = 0; i < 2_000; i++) {
      const sample = value(0);
      expect(canonicalJson(sample)).toBe(reference(sample));
      expect(canonicalJson(deepFreeze(structuredClone(sample)))).toBe(reference(sample));
    }
  });
});

describe("frozen values", () => {
  it("a shallowly frozen object is not cached: a change below it shows", () => {
    const child: Record<string, number> = { a: 1 };
    const frozen = Object.freeze({ x: child });
    expect(canonicalJson(frozen)).toBe('{"x":{"a":1}}');
    child.A = 2;
    expect(canonicalJson(frozen)).toBe('{"x":{"A":2,"a":1}}');
  });

  it("deepFreeze also freezes below an object already frozen shallowly, and survives a cycle", () => {
    const inner: Record<string, unknown> = { b: 1 };
    const outer = Object.freeze({ inner });
    deepFreeze(outer);
    expect(Object.isFrozen(inner)).toBe(true);
    const cyclic: Record<string, unknown> = { z: 1 };
    cyclic.self = cyclic;
    expect(deepFreeze(cyclic)).toBe(cyclic);
    expect(Object.isFrozen(cyclic)).toBe(true);
  });

  it("serialize exactly as their unfrozen twins, also when reached again from another value", () => {
    const claims = { sub: "a", iss: "https://issuer/", nested: { z: [3, { y: 1, x: 2 }], "10": true, "9": false } };
    const plain = canonicalJson({ b: claims, a: claims });
    const frozen = deepFreeze(structuredClone(claims));
    expect(Object.isFrozen(frozen.nested.z[1])).toBe(true);
    expect(canonicalJson({ b: frozen, a: frozen })).toBe(plain);
    expect(canonicalJson({ a: frozen, b: frozen })).toBe(plain);
    expect(canonicalJson(frozen)).toBe(reference(claims));
  });
});

describe("sha256Hex", () => {
  it("is the hex SHA-256 of the UTF-8 bytes", () => {
    for (const text of ["", "é", "{\"a\":1}", "\ud83d\ude00"]) expect(sha256Hex(text)).toBe(createHash("sha256").update(Buffer.from(text, "utf8")).digest("hex"));
  });
});
