import { describe, expect, it } from "vitest";
import { Backoff } from "./backoff.ts";

describe("Backoff", () => {
  it.each([
    { name: "ceiling grows ×2 up to the cap", random: 0.999999, expected: [199, 399, 799, 1599, 3199, 4999, 4999] },
    { name: "full jitter reaches down to zero", random: 0, expected: [0, 0, 0, 0, 0, 0, 0] },
    { name: "half of each ceiling", random: 0.5, expected: [100, 200, 400, 800, 1600, 2500, 2500] },
  ])("$name", ({ random, expected }) => {
    const backoff = new Backoff({ baseMs: 200, factor: 2, capMs: 5_000, random: () => random });
    expect(expected.map(() => backoff.next())).toEqual(expected);
  });

  it("starts over after a connection that stayed up long enough, not after a short one", () => {
    const backoff = new Backoff({ baseMs: 100, capMs: 10_000, stableAfterMs: 60_000, random: () => 0.999999 });
    backoff.next(0);
    backoff.next(0);
    backoff.connected(1_000);
    expect(backoff.next(30_000)).toBe(399);
    backoff.connected(40_000);
    expect(backoff.next(100_000)).toBe(99);
  });

  it("never overflows, however many attempts", () => {
    const backoff = new Backoff({ baseMs: 200, capMs: 30_000, random: () => 0.999999 });
    let last = 0;
    for (let i = 0; i < 5_000; i++) last = backoff.next();
    expect(last).toBe(29_999);
  });
});
