import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { evalCommand } from "./cli.ts";
import { buildTestBundle, tempDir, toolsCallInput, writeKeyPair, type KeyFiles } from "./testing.ts";
import { PolicyBundleError } from "./types.ts";

let dir: string;
let cleanup: () => Promise<void>;
let bundle: string;
let signed: string;
let keys: KeyFiles;
let allowInput: string;
let denyInput: string;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("policy-cli"));
  keys = await writeKeyPair(dir, "cli");
  bundle = await buildTestBundle({ dir, name: "cli.tar.gz", revision: "c1" });
  signed = await buildTestBundle({ dir, name: "cli-signed.tar.gz", revision: "c2", signingKey: keys.privatePem });
  allowInput = path.join(dir, "allow.json");
  denyInput = path.join(dir, "deny.json");
  await writeFile(allowInput, JSON.stringify(toolsCallInput("demo", "read_file")));
  await writeFile(denyInput, JSON.stringify(toolsCallInput("nobody", "read_file")));
});
afterAll(() => cleanup());

describe("evalCommand", () => {
  it("evaluates an input file against a bundle as the gateway would", async () => {
    expect(await evalCommand({ inputFile: allowInput, bundle })).toMatchObject({ allow: true, effect: "allow", revision: "c1", obligations: { audit: "full" } });
    expect(await evalCommand({ inputFile: denyInput, bundle })).toMatchObject({ allow: false, effect: "deny", reasons: ["no grant"] });
    expect(await evalCommand({ inputFile: denyInput, bundle, mode: "dry-run" })).toMatchObject({ allow: true, effect: "dry-run-deny" });
    const outcome = await evalCommand({ inputFile: denyInput, bundle, shadow: signed, verify: undefined });
    expect(outcome.shadow).toMatchObject({ allow: false, disagrees: false, revision: "c2" });
    expect(outcome.evalMicros).toBeGreaterThan(0);
  });

  it("verifies signatures when asked, and fails loudly on a bad bundle or input", async () => {
    expect(await evalCommand({ inputFile: allowInput, bundle: signed, verify: { keyFile: keys.publicPem } })).toMatchObject({ allow: true, revision: "c2" });
    await expect(evalCommand({ inputFile: allowInput, bundle, verify: { keyFile: keys.publicPem } })).rejects.toThrow(/unsigned bundle/);
    await expect(evalCommand({ inputFile: allowInput, bundle: path.join(dir, "none.tar.gz") })).rejects.toThrow(PolicyBundleError);
    const broken = path.join(dir, "broken.json");
    await writeFile(broken, "{");
    await expect(evalCommand({ inputFile: broken, bundle })).rejects.toThrow(/^input .*broken\.json: not JSON/);
    await expect(evalCommand({ inputFile: path.join(dir, "absent.json"), bundle })).rejects.toThrow(/absent\.json: ENOENT/);
  });
});
