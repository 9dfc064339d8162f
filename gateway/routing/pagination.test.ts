import { describe, expect, it } from "vitest";
import { ErrorCode, JsonRpcError } from "../protocol/index.ts";
import { encodeCursor, paginate } from "./pagination.ts";

const items = Array.from({ length: 25 }, (_, i) => i);

/** Follows nextCursor to the end, collecting pages. */
function walk(list: readonly number[], pageSize: number, version = 1): number[][] {
  const pages: number[][] = [];
  let cursor: string | undefined;
  do {
    const { page, nextCursor } = paginate(list, cursor, pageSize, version, "tools");
    pages.push(page);
    cursor = nextCursor;
  } while (cursor !== undefined && pages.length < 1000);
  return pages;
}

describe("paginate", () => {
  it.each([
    [10, [10, 10, 5]],
    [25, [25]],
    [26, [25]],
    [1, Array.from({ length: 25 }, () => 1)],
    [5, [5, 5, 5, 5, 5]],
  ])("page size %i → page lengths %j, every item once, in order", (pageSize, lengths) => {
    const pages = walk(items, pageSize);
    expect(pages.map((page) => page.length)).toEqual(lengths);
    expect(pages.flat()).toEqual(items);
  });

  it("an empty list is one empty page without a cursor", () => {
    expect(paginate([], undefined, 10, 1, "tools")).toEqual({ page: [] });
  });

  it("the last page has no nextCursor", () => {
    expect(paginate(items, encodeCursor("tools", 1, 20), 10, 1, "tools")).toEqual({ page: [20, 21, 22, 23, 24] });
  });

  it("cursors are opaque base64url of {l, v, o}", () => {
    const { nextCursor } = paginate(items, undefined, 10, 7, "prompts");
    expect(nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(nextCursor!, "base64url").toString())).toEqual({ l: "prompts", v: 7, o: 10 });
  });

  it("returns a copy, not the table's frozen array", () => {
    const frozen = Object.freeze([1, 2, 3]);
    const { page } = paginate(frozen, undefined, 10, 1, "tools");
    page.push(4);
    expect(frozen).toEqual([1, 2, 3]);
  });

  describe("a cursor from an older table version", () => {
    it.each([
      ["continues from its offset", 30, encodeCursor("tools", 1, 10), { page: items.slice(10, 20), next: 20 }],
      ["is clamped when the list shrank", 30, encodeCursor("tools", 1, 40), { page: [], next: undefined }],
      ["may point at the very end", 30, encodeCursor("tools", 1, 25), { page: [], next: undefined }],
      ["works from a newer version too (a restart resets versions)", 2, encodeCursor("tools", 9, 20), { page: items.slice(20), next: undefined }],
    ])("%s", (_label, version, cursor, expected) => {
      const result = paginate(items, cursor, 10, version, "tools");
      expect(result.page).toEqual(expected.page);
      if (expected.next === undefined) expect(result.nextCursor).toBeUndefined();
      else expect(result.nextCursor).toBe(encodeCursor("tools", version, expected.next));
    });
  });

  describe("invalid cursors → InvalidParams", () => {
    const json = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
    it.each([
      ["empty", ""],
      ["not base64url", "abc+/="],
      ["not JSON", Buffer.from("{nope").toString("base64url")],
      ["JSON but not an object", json(5)],
      ["null", json(null)],
      ["missing fields", json({ l: "tools" })],
      ["offset not a number", json({ l: "tools", v: 1, o: "10" })],
      ["negative offset", json({ l: "tools", v: 1, o: -1 })],
      ["fractional offset", json({ l: "tools", v: 1, o: 1.5 })],
      ["negative version", json({ l: "tools", v: -1, o: 0 })],
      ["list not a string", json({ l: 1, v: 1, o: 0 })],
      ["far too long", "A".repeat(600)],
      ["for another list", encodeCursor("prompts", 1, 10)],
      ["past the end, same version", encodeCursor("tools", 1, 25)],
      ["far past the end, same version", encodeCursor("tools", 1, 1000)],
    ])("%s", (_label, cursor) => {
      let thrown: unknown;
      try {
        paginate(items, cursor, 10, 1, "tools");
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(JsonRpcError);
      expect((thrown as JsonRpcError).code).toBe(ErrorCode.InvalidParams);
      expect((thrown as JsonRpcError).message).toMatch(/^invalid cursor/);
    });
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses page size %s (a programming error)", (pageSize) => {
    expect(() => paginate(items, undefined, pageSize, 1, "tools")).toThrow(RangeError);
  });
});
