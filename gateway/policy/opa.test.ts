import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBundleFile } from "./bundle.ts";
import { buildWasmBundle, wasmCapabilities } from "./opa.ts";
import { tempDir, testOpa } from "./testing.ts";

let dir: string;
let cleanup: () => Promise<void>;
beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("policy-opa"));
});
afterAll(() => cleanup());

async function source(name: string, rego: string): Promise<string> {
  const src = path.join(dir, name);
  await mkdir(src, { recursive: true });
  await writeFile(path.join(src, "policy.rego"), rego);
  return src;
}

describe("the opa toolchain wrapper", () => {
  it("builds v1 Rego with the SDK-derived fallback capabilities, and refuses a builtin the SDK lacks at build time", async () => {
    const capabilities = path.join(dir, "capabilities.json");
    const document = wasmCapabilities();
    expect(document.features).toContain("rego_v1");
    await writeFile(capabilities, JSON.stringify(document));

    const good = await source("good", 'package gatehouse.authz\n\ndecision := {"allow": glob.match("read_*", [], input.tool), "reasons": [], "obligations": {}}\n');
    const out = path.join(dir, "good.tar.gz");
    await buildWasmBundle({ opa: testOpa(), paths: [good], out, capabilities, revision: "caps-1" });
    expect((await readBundleFile(out)).revision).toBe("caps-1");

    const bad = await source("bad", 'package gatehouse.authz\n\ndecision := {"allow": time.now_ns() > 0, "reasons": [], "obligations": {}}\n');
    await expect(buildWasmBundle({ opa: testOpa(), paths: [bad], out: path.join(dir, "bad.tar.gz"), capabilities })).rejects.toThrow(
      /^opa build failed: .*undefined function time\.now_ns/s,
    );
  });
});
