import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerUlimits, findRuntime, removeArgs } from "./runtime.ts";

describe("findRuntime", () => {
  let dir: string;
  const bin = (name: string) => path.join(dir, name, "bin");

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "gh-runtime-"));
    for (const [folder, programs] of [["both", ["podman", "docker"]], ["docker", ["docker"]], ["none", []], ["noexec", []]] as const) {
      const target = bin(folder);
      await mkdir(target, { recursive: true });
      for (const program of programs) {
        await writeFile(path.join(target, program), "#!/bin/sh\n");
        await chmod(path.join(target, program), 0o755);
      }
    }
    await writeFile(path.join(bin("noexec"), "podman"), "not executable");
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const cases: Array<{ name: string; runtime: "auto" | "podman" | "docker"; path: () => string; expected: string | undefined }> = [
    { name: "auto prefers podman", runtime: "auto", path: () => bin("both"), expected: "podman" },
    { name: "auto takes docker when it is all there is", runtime: "auto", path: () => bin("docker"), expected: "docker" },
    { name: "docker when asked, even beside podman", runtime: "docker", path: () => bin("both"), expected: "docker" },
    { name: "podman asked for but absent", runtime: "podman", path: () => bin("docker"), expected: undefined },
    { name: "nothing on PATH", runtime: "auto", path: () => bin("none"), expected: undefined },
    { name: "a podman file that is not executable", runtime: "auto", path: () => bin("noexec"), expected: undefined },
    { name: "podman later on PATH still beats docker", runtime: "auto", path: () => [bin("none"), bin("docker"), bin("both")].join(path.delimiter), expected: "podman" },
  ];
  it("takes the first PATH entry that has the program", () => {
    const found = findRuntime({ runtime: "docker", runtimeArgs: [] }, [bin("none"), bin("docker"), bin("both")].join(path.delimiter));
    expect(found?.binary).toBe(path.join(bin("docker"), "docker"));
  });

  for (const { name, runtime, path: pathEnv, expected } of cases) {
    it(name, () => {
      const found = findRuntime({ runtime, runtimeArgs: ["--x"] }, pathEnv());
      expect(found?.kind).toBe(expected);
      if (found !== undefined) {
        expect(path.isAbsolute(found.binary)).toBe(true);
        expect(found.globalArgs).toEqual(["--x"]);
      }
    });
  }
});

describe("containerUlimits", () => {
  const limits = (files: string, processes: string) =>
    `Limit                     Soft Limit           Hard Limit           Units\nMax processes             ${processes}                ${processes}                processes\nMax open files            1024                 ${files}                files\n`;
  const cases = [
    { name: "under the caps: the host's hard limits", text: limits("20000", "9000"), expected: { nofile: 20000, nproc: 9000 } },
    { name: "over the caps", text: limits("1048576", "4194304"), expected: { nofile: 65536, nproc: 16384 } },
    { name: "unlimited", text: limits("unlimited", "unlimited"), expected: { nofile: 65536, nproc: 16384 } },
    { name: "unreadable /proc", text: "", expected: { nofile: 65536, nproc: 16384 } },
  ];
  for (const { name, text, expected } of cases) it(name, () => expect(containerUlimits(text)).toEqual(expected));
});

describe("removeArgs", () => {
  it("podman: kill at once, and a missing container is fine", () => {
    expect(removeArgs({ kind: "podman", binary: "/p", globalArgs: [] }, ["a", "b"])).toEqual(["rm", "--force", "--ignore", "--time", "0", "a", "b"]);
  });
  it("docker: rm --force", () => {
    expect(removeArgs({ kind: "docker", binary: "/d", globalArgs: [] }, ["a"])).toEqual(["rm", "--force", "a"]);
  });
});
