/** The `gatehouse` command as a real process: help texts, config check, serve's URL line, SIGTERM drain, reload. */
import { afterEach, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { FLAKY, ROOT, waitFor } from "./helpers/gateway.ts";
import { startGatehouseProcess, type Child } from "./helpers/processes.ts";

const CLI = `${ROOT}gateway/cli/main.ts`;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000 });
const tmp = () => mkdtempSync(join(tmpdir(), "gatehouse-cli-"));
const flakyServer = (name: string, extra = "") => `  - name: ${name}\n    transport: stdio\n    command: node\n    args: ["${FLAKY}"${extra}]\n`;

const children: Child[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) await child.stop("SIGKILL");
});

describe("help", () => {
  it.each([[["--help"]], [["serve", "--help"]], [["config", "check", "--help"]]])("gatehouse %j prints usage and exits 0", (args) => {
    const result = run(...args);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Usage: gatehouse/);
  });

  it("an unknown command exits 2 with usage on stderr", () => {
    const result = run("frobnicate");
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/unknown command "frobnicate"/);
  });
});

describe("config check", () => {
  it("exits 0 for a valid file", () => {
    const file = join(tmp(), "ok.yaml");
    writeFileSync(file, `servers:\n${flakyServer("flaky")}`);
    const result = run("config", "check", file);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("ok");
  });

  it("exits 1 with one file:path: reason line per problem", () => {
    const file = join(tmp(), "bad.yaml");
    writeFileSync(file, `naming: { prefix: sometimes }\nservers:\n  - name: Bad_Name\n    transport: stdio\n    command: node\n    bogus: 1\n`);
    const result = run("config", "check", file);
    expect(result.status).toBe(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines.length).toBeGreaterThanOrEqual(2);
    for (const line of lines) expect(line.startsWith(`${file}:`)).toBe(true);
    expect(result.stderr).toMatch(/naming\.prefix/);
    expect(result.stderr).toMatch(/servers\[0\]/);
  });

  it("the embedded default config is valid", () => {
    const result = run("config", "check", `${ROOT}gateway/config/default.yaml`);
    expect(result.status).toBe(0);
  });
});

describe("serve", () => {
  it("a tool-name collision at startup is a config error: exit 1 naming both servers", () => {
    const file = join(tmp(), "collide.yaml");
    writeFileSync(file, `naming: { prefix: never }\nservers:\n${flakyServer("one")}${flakyServer("two")}`);
    const result = spawnSync(process.execPath, [CLI, "serve", "--config", file, "--port", "0"], { encoding: "utf8", timeout: 30_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/"one".*"two"|"two".*"one"/);
  });

  it("prints its URL, drains an in-flight call on SIGTERM, and exits 0 leaving no backend behind", async () => {
    const dir = tmp();
    const file = join(dir, "gatehouse.yaml");
    writeFileSync(file, `servers:\n${flakyServer("flaky")}`);
    const { url, child } = await startGatehouseProcess(["--config", file]);
    children.push(child);
    const client = new Client({ name: "drain", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const slow = client.callTool({ name: "slow", arguments: { ms: 800, steps: 1 } });
    await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise<number | null>((resolve) => child.process.once("exit", (code) => resolve(code)));
    child.process.kill("SIGTERM");
    const result = await slow;
    expect(JSON.stringify(result.content)).toMatch(/done|slow|800/i);
    expect(await exited).toBe(0);
    // No flaky child of that gateway survives it.
    const orphans = spawnSync("pgrep", ["-f", `${FLAKY}`], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    const ours = orphans.filter((pid) => spawnSync("ps", ["-o", "ppid=", "-p", pid], { encoding: "utf8" }).stdout.trim() === String(child.process.pid));
    expect(ours).toEqual([]);
  });

  it("reloads on file change: a new server appears; a colliding config is refused and the old table keeps serving", async () => {
    const dir = tmp();
    const file = join(dir, "gatehouse.yaml");
    writeFileSync(file, `naming: { prefix: always }\nservers:\n${flakyServer("alpha")}`);
    const { url, child } = await startGatehouseProcess(["--config", file]);
    children.push(child);
    const client = new Client({ name: "reload", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const names = async () => (await client.listTools()).tools.map((t) => t.name);
    const alphaPid = async () => JSON.parse(((await client.callTool({ name: "alpha__process-info", arguments: {} })).content as Array<{ text: string }>)[0]!.text).pid;
    expect(await names()).toContain("alpha__echo");
    const pidBefore = await alphaPid();

    writeFileSync(file, `naming: { prefix: always }\nservers:\n${flakyServer("alpha")}${flakyServer("beta")}`);
    await waitFor(async () => ((await names()).includes("beta__echo") ? true : undefined), 15_000, "beta to appear");
    // Only what changed restarts: alpha's process is the same one.
    expect(await alphaPid()).toBe(pidBefore);

    writeFileSync(file, `naming: { prefix: never }\nservers:\n${flakyServer("alpha")}${flakyServer("beta")}`);
    await waitFor(() => (/reload rejected/.test(child.output()) ? true : undefined), 15_000, "the reload to be rejected");
    expect(await names()).toContain("beta__echo");
    await client.close();
  });
});

describe("the embedded default", () => {
  it("serve without --config starts the bundled servers and answers through them", async () => {
    const { url, child } = await startGatehouseProcess([]);
    children.push(child);
    const client = new Client({ name: "defaults", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url)));
    const names = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const result = await client.listTools(cursor === undefined ? {} : { cursor });
      for (const tool of result.tools) names.add(tool.name);
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    for (const name of ["everything__echo", "memory__read_graph", "notes__write_note"]) expect(names).toContain(name);
    const echo = await client.callTool({ name: "everything__echo", arguments: { message: "default config" } });
    expect(JSON.stringify(echo.content)).toContain("default config");
    await client.close();
  }, 60_000);
});
