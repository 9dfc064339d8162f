import { describe, expect, it } from "vitest";
import { benchVerify } from "./bench.ts";

describe("benchVerify", () => {
  it("measures a signature check for fresh tokens and a hash lookup for cached ones", async () => {
    const { coldMicros, cachedMicros } = await benchVerify({ coldSamples: 50, cachedSamples: 200 });
    expect(cachedMicros).toBeGreaterThan(0);
    // An ES256 verification costs far more than sha256 plus a Map lookup; if not, the cache is not being hit.
    expect(coldMicros).toBeGreaterThan(cachedMicros * 3);
  });
});
