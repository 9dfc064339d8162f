// The probe server over real stdio on the host: whoami tells the truth about this process, try_write reports
// the filesystem's answer without ever leaving a file behind or touching an existing one.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectStdioServer, firstText, serverMain, type StdioServerConnection } from "../shared/test-client.ts";
import { statusField, type SandboxFacts } from "./sandbox-facts.ts";
import type { WriteProbe } from "./write-probe.ts";

describe("probe server (stdio, on the host)", () => {
  let probe: StdioServerConnection;
  let sandbox: string;
  const call = (name: string, args: Record<string, unknown> = {}) =>
    probe.client.callTool({ name, arguments: args }) as Promise<{
      content: Array<{ type: string; text?: string }>;
      structuredContent?: Record<string, unknown>;
      isError?: boolean;
    }>;
  const tryWrite = async (path: string) => (await call("try_write", { path })).structuredContent as unknown as WriteProbe;

  beforeAll(async () => {
    sandbox = await mkdtemp(join(tmpdir(), "probe-test-"));
    probe = await connectStdioServer(serverMain("probe"));
  });
  afterAll(async () => {
    await probe?.close();
    if (sandbox) await rm(sandbox, { recursive: true, force: true });
  });

  it("identifies itself and declares honest annotations", async () => {
    expect(probe.client.getServerVersion()).toEqual({ name: "gatehouse-probe", version: "0.1.0" });
    const { tools } = await probe.client.listTools();
    const byName = new Map(tools.map((tool) => [tool.name, tool.annotations]));
    expect([...byName.keys()].sort()).toEqual(["connect", "crash", "try_write", "whoami"]);
    expect(byName.get("whoami")).toMatchObject({ readOnlyHint: true });
    expect(byName.get("try_write")).toMatchObject({ readOnlyHint: false, destructiveHint: false, idempotentHint: true });
    expect(byName.get("connect")).toMatchObject({ readOnlyHint: true, openWorldHint: true });
    expect(byName.get("crash")).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it("whoami reports this host's identity and kernel facts", async () => {
    const result = await call("whoami");
    const facts = result.structuredContent as unknown as SandboxFacts;
    expect(facts.uid).toBe(process.getuid?.());
    expect(facts.gid).toBe(process.getgid?.());
    expect(facts.groups).toEqual(process.getgroups?.());
    expect(facts.pid).toBe(probe.transport.pid);
    // The child inherits our credentials, so the kernel's view of it matches its view of us.
    const ours = await readFile("/proc/self/status", "utf8");
    expect(facts.capEff).toBe(statusField(ours, "CapEff"));
    expect(facts.capBnd).toBe(statusField(ours, "CapBnd"));
    expect(facts.capEff).toMatch(/^[0-9a-f]{16}$/);
    expect(facts.noNewPrivs).toBe(Number(statusField(ours, "NoNewPrivs")));
    expect(facts.seccomp).toBe(Number(statusField(ours, "Seccomp")));
    expect(typeof facts.rootReadOnly).toBe("boolean");
    // On the host: its real interfaces, lo among them.
    expect(facts.networkInterfaces).toEqual((await readdir("/sys/class/net")).sort());
    expect(facts.networkInterfaces).toContain("lo");
    // A root cgroup has no limit files (null); a container's show its --memory and --pids-limit.
    for (const limit of [facts.cgroupMemoryMax, facts.cgroupPidsMax]) {
      expect(limit === null || limit === "max" || (Number.isSafeInteger(limit) && limit > 0), String(limit)).toBe(true);
    }
    expect(JSON.parse(firstText(result))).toEqual(facts);
  });

  it("serves the same facts as the probe://environment resource", async () => {
    const { contents } = await probe.client.readResource({ uri: "probe://environment" });
    expect(contents[0]).toMatchObject({ uri: "probe://environment", mimeType: "application/json" });
    const facts = JSON.parse(String((contents[0] as { text: string }).text)) as SandboxFacts;
    expect(facts.uid).toBe(process.getuid?.());
    expect(facts.pid).toBe(probe.transport.pid);
  });

  it("try_write writes into a writable directory and removes the file again", async () => {
    const path = join(sandbox, "written.txt");
    const report = await tryWrite(path);
    expect(report).toMatchObject({ path, outcome: "written" });
    expect(report.code).toBeUndefined();
    expect(existsSync(path)).toBe(false);
  });

  it("try_write reports ENOENT under a directory that does not exist", async () => {
    const report = await tryWrite(join(sandbox, "no-such-dir", "x.txt"));
    expect(report).toMatchObject({ outcome: "error", code: "ENOENT" });
    expect(existsSync(join(sandbox, "no-such-dir"))).toBe(false);
  });

  it("try_write reports the kernel's refusal where no file can be created (root bypasses chmod, not /proc)", async () => {
    const result = await call("try_write", { path: "/proc/gatehouse-probe" });
    expect(result.isError).toBeFalsy();
    const report = result.structuredContent as unknown as WriteProbe;
    expect(report.outcome).toBe("error");
    expect(report.code).toMatch(/^E[A-Z]+$/);
    expect(firstText(result)).toMatch(new RegExp(`^error ${report.code}: `));
  });

  it("try_write never overwrites or removes an existing file", async () => {
    const path = join(sandbox, "precious.txt");
    await writeFile(path, "keep me");
    expect(await tryWrite(path)).toMatchObject({ outcome: "error", code: "EEXIST" });
    expect(await readFile(path, "utf8")).toBe("keep me");
  });

  it("try_write refuses a relative path before touching anything", async () => {
    const result = await call("try_write", { path: "relative.txt" });
    expect(result.isError).toBe(true);
    expect(firstText(result)).toMatch(/Input validation error.*absolute/s);
  });
});
