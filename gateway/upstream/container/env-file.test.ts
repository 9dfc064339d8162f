import { readFile, stat } from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { writeEnvFile } from "./env-file.ts";

describe("writeEnvFile", () => {
  it("writes KEY=value lines, readable by the owner only, in a private folder, and removes both", async () => {
    const file = await writeEnvFile({ TOKEN: "s3cret=with=equals", MODE: "fast" });
    if (file === undefined) throw new Error("expected a file");
    expect(await readFile(file.path, "utf8")).toBe("TOKEN=s3cret=with=equals\nMODE=fast\n");
    expect((await stat(file.path)).mode & 0o777).toBe(0o600);
    expect((await stat(path.dirname(file.path))).mode & 0o777).toBe(0o700);
    await file.remove();
    await file.remove();
    await expect(stat(path.dirname(file.path))).rejects.toThrow(/ENOENT/);
  });

  it("writes nothing for an empty env", async () => {
    expect(await writeEnvFile({})).toBeUndefined();
  });
});
