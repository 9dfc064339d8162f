// countdown and sleep: progress per step in order, none without a token, and both stop when cancelled, whether
// the client aborts or its request times out (which is what the gateway does to a slow backend).
import { ProgressNotificationSchema, type ProgressNotification } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  connectStdioServer,
  firstText,
  serverMain,
  waitFor,
  type StdioServerConnection,
} from "../shared/test-client.ts";

const clockMain = serverMain("clock");

describe("countdown and sleep", () => {
  let clock: StdioServerConnection;
  beforeEach(async () => {
    clock = await connectStdioServer(clockMain);
  });
  afterEach(async () => {
    await clock?.close();
  });

  /** Records every progress notification. Replaces the SDK's own handler, so onprogress stops working. */
  const recordProgress = () => {
    const seen: ProgressNotification["params"][] = [];
    clock.client.setNotificationHandler(ProgressNotificationSchema, (n) => void seen.push(n.params));
    return seen;
  };

  it("delivers one progress per step through the SDK's onprogress callback, then done", async () => {
    const steps: Array<[number, number | undefined, string | undefined]> = [];
    const result = await clock.client.callTool({ name: "countdown", arguments: { seconds: 4, stepMs: 20 } }, undefined, {
      onprogress: (progress) => void steps.push([progress.progress, progress.total, progress.message]),
    });
    expect(firstText(result)).toBe("done");
    expect(steps).toEqual([
      [1, 4, "3 s left"],
      [2, 4, "2 s left"],
      [3, 4, "1 s left"],
      [4, 4, "0 s left"],
    ]);
  });

  it("sends progress for the caller's token, in order, and takes seconds × stepMs", async () => {
    const seen = recordProgress();
    const started = performance.now();
    const result = await clock.client.callTool({
      name: "countdown",
      arguments: { seconds: 5, stepMs: 30 },
      _meta: { progressToken: "cd-1" },
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(5 * 30);
    expect(firstText(result)).toBe("done");
    await waitFor(() => seen.length === 5);
    expect(seen.map((p) => [p.progressToken, p.progress, p.total])).toEqual([1, 2, 3, 4, 5].map((n) => ["cd-1", n, 5]));
  });

  it("sends no progress without a progressToken", async () => {
    const seen = recordProgress();
    expect(firstText(await clock.client.callTool({ name: "countdown", arguments: { seconds: 3, stepMs: 10 } }))).toBe("done");
    await clock.client.ping();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toHaveLength(0);
  });

  it("stops counting down when the request is cancelled", async () => {
    const seen = recordProgress();
    const abort = new AbortController();
    const call = clock.client.callTool(
      { name: "countdown", arguments: { seconds: 60, stepMs: 40 }, _meta: { progressToken: "cd-cancel" } },
      undefined,
      { signal: abort.signal },
    );
    await waitFor(() => seen.length >= 2);
    abort.abort("enough");
    await expect(call).rejects.toThrow(/enough/);
    await waitFor(() => clock.stderr().includes("countdown cancelled after"));
    const atCancel = seen.length;
    // Ten more steps' worth of time: a countdown that kept going would keep reporting.
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(seen.length).toBe(atCancel);
    expect(atCancel).toBeLessThan(10);
    expect(clock.stderr()).toMatch(new RegExp(`countdown cancelled after ${atCancel} of 60 steps`));
  });

  it("refuses counts and steps outside their ranges", async () => {
    for (const args of [{ seconds: 0 }, { seconds: 61 }, { seconds: 1, stepMs: 5 }, { seconds: 1, stepMs: 5001 }]) {
      const result = await clock.client.callTool({ name: "countdown", arguments: args });
      expect(result.isError, JSON.stringify(args)).toBe(true);
      expect(firstText(result)).toMatch(/Input validation error/);
    }
  });

  it("sleep waits as long as asked", async () => {
    expect(firstText(await clock.client.callTool({ name: "sleep", arguments: { ms: 0 } }))).toBe("slept 0 ms");
    const started = performance.now();
    const result = await clock.client.callTool({ name: "sleep", arguments: { ms: 200 } });
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
    expect(firstText(result)).toBe("slept 200 ms");
    expect((await clock.client.callTool({ name: "sleep", arguments: { ms: 600_001 } })).isError).toBe(true);
  });

  it("sleep stops when the client's request times out, and the server goes on answering", async () => {
    const started = performance.now();
    await expect(
      clock.client.callTool({ name: "sleep", arguments: { ms: 600_000 } }, undefined, { timeout: 150 }),
    ).rejects.toThrow(/timed out/i);
    await waitFor(() => clock.stderr().includes("sleep of 600000 ms cancelled after"));
    expect(performance.now() - started).toBeLessThan(5000);
    const elapsed = Number(/cancelled after (\d+) ms/.exec(clock.stderr())?.[1]);
    expect(elapsed).toBeGreaterThanOrEqual(100);
    expect(elapsed).toBeLessThan(5000);
    expect(firstText(await clock.client.callTool({ name: "sleep", arguments: { ms: 1 } }))).toBe("slept 1 ms");
  });
});
