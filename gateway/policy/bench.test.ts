import { describe, expect, it } from "vitest";
import { benchPolicy } from "./bench.ts";
import { testOpa } from "./testing.ts";

describe("benchPolicy", () => {
  it.each(["shipped", "indexed"] as const)("measures the %s policy with 1,000 grants (p50/p99 µs)", async (policy) => {
    const result = await benchPolicy({ grants: 1000, samples: 2_000, policy, opa: testOpa() });
    expect(result).toMatchObject({ grants: 1000, samples: 2_000, policy });
    expect(result.p50Micros).toBeGreaterThan(0);
    expect(result.p99Micros).toBeGreaterThanOrEqual(result.p50Micros);
    expect(result.maxMicros).toBeGreaterThanOrEqual(result.p99Micros);
    expect(result.agentGrants).toBeGreaterThan(0);
  });
});
