import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { definitionHash } from "./hash.ts";

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
