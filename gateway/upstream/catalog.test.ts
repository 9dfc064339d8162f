import { describe, expect, it } from "vitest";
import { ErrorCode, JsonRpcError, type JsonObject } from "../protocol/index.ts";
import { logger } from "../log.ts";
import { MAX_PAGES, changedKinds, declaredKinds, emptyCatalog, fetchKinds, fetchList, sameJson } from "./catalog.ts";

const log = logger("upstream-test");

/** A real pager over `items`: `size` per page, cursors are offsets. */
function pager(items: JsonObject[], size: number) {
  const calls: Array<string | undefined> = [];
  const call = async (_method: string, params: JsonObject | undefined): Promise<JsonObject> => {
    const cursor = params?.cursor as string | undefined;
    calls.push(cursor);
    const start = cursor === undefined ? 0 : Number(cursor);
    const end = start + size;
    return end < items.length ? { tools: items.slice(start, end), nextCursor: String(end) } : { tools: items.slice(start) };
  };
  return { call, calls };
}

describe("fetchList", () => {
  it.each([
    { total: 0, size: 5, pages: 1 },
    { total: 5, size: 5, pages: 1 },
    { total: 6, size: 5, pages: 2 },
    { total: 23, size: 4, pages: 6 },
  ])("collects $total items in $pages pages of $size", async ({ total, size, pages }) => {
    const items = Array.from({ length: total }, (_, k) => ({ name: `tool-${k}` }));
    const { call, calls } = pager(items, size);
    expect(await fetchList(call, "tools/list", "tools", "name", log)).toEqual(items);
    expect(calls).toHaveLength(pages);
  });

  it("stops on a repeated cursor instead of looping", async () => {
    let calls = 0;
    const looping = async (): Promise<JsonObject> => (calls++, { tools: [{ name: `t${calls}` }], nextCursor: "same" });
    expect(await fetchList(looping, "tools/list", "tools", "name", log)).toHaveLength(2);
    expect(calls).toBe(2);
  });

  it("gives up after MAX_PAGES pages of ever-new cursors", async () => {
    let calls = 0;
    const endless = async (): Promise<JsonObject> => (calls++, { tools: [], nextCursor: `c${calls}` });
    await fetchList(endless, "tools/list", "tools", "name", log);
    expect(calls).toBe(MAX_PAGES);
  });

  it("drops items without their identifying field and rejects a missing list", async () => {
    const mixed = async (): Promise<JsonObject> => ({ tools: [{ name: "ok" }, { title: "no name" }, "junk", null] });
    expect(await fetchList(mixed, "tools/list", "tools", "name", log)).toEqual([{ name: "ok" }]);
    const missing = async (): Promise<JsonObject> => ({ items: [] });
    await expect(fetchList(missing, "tools/list", "tools", "name", log)).rejects.toThrow('tools/list answered without a "tools" array');
  });
});

describe("fetchKinds", () => {
  it("treats templates/list MethodNotFound as no templates, other errors as failures", async () => {
    const call = async (method: string): Promise<JsonObject> => {
      if (method === "resources/list") return { resources: [{ uri: "a://1", name: "one" }] };
      throw new JsonRpcError(ErrorCode.MethodNotFound, "no templates");
    };
    expect(await fetchKinds(call, ["resources"], log)).toEqual({ resources: [{ uri: "a://1", name: "one" }], resourceTemplates: [] });
    const broken = async (method: string): Promise<JsonObject> => {
      if (method === "resources/list") return { resources: [] };
      throw new JsonRpcError(ErrorCode.InternalError, "boom");
    };
    await expect(fetchKinds(broken, ["resources"], log)).rejects.toThrow("boom");
  });

  it("asks only for declared kinds", () => {
    expect(declaredKinds({ tools: {}, resources: { subscribe: true } })).toEqual(["tools", "resources"]);
    expect(declaredKinds(undefined)).toEqual([]);
  });
});

describe("changedKinds and sameJson", () => {
  it.each([
    { a: { x: 1, y: [1, { z: 2 }] }, b: { y: [1, { z: 2 }], x: 1 }, same: true },
    { a: { x: 1 }, b: { x: 1, y: undefined }, same: true },
    { a: [1, 2], b: [2, 1], same: false },
    { a: { x: 1 }, b: { x: "1" }, same: false },
    { a: { x: null }, b: { x: {} }, same: false },
    { a: [], b: {}, same: false },
  ])("sameJson($a, $b) is $same", ({ a, b, same }) => {
    expect(sameJson(a, b)).toBe(same);
  });

  it("names exactly the kinds that differ; templates count as resources", () => {
    const before = { ...emptyCatalog(), tools: [{ name: "a", inputSchema: { type: "object" as const } }] };
    expect(changedKinds(before, { ...before })).toEqual([]);
    expect(changedKinds(before, { ...before, tools: [] })).toEqual(["tools"]);
    expect(changedKinds(before, { ...before, resourceTemplates: [{ uriTemplate: "x://{id}", name: "x" }] })).toEqual(["resources"]);
    expect(changedKinds(before, { ...before, prompts: [{ name: "p" }], resources: [{ uri: "r://", name: "r" }] })).toEqual(["prompts", "resources"]);
  });
});
