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
import { containersOf, inspectContainer } from "./helpers/containers.ts";
import { ownerId } from "../gateway/upstream/index.ts";

const CLI = `${ROOT}gateway/cli/main.ts`;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 20_000 });
const tmp = () => mkdtempSync(join(tmpdir(), "gatehouse-cli-"));
const flakyServer = (name: string, extra = "") => `  - name: ${name}\n    transport: stdio\n    command: node\n    args: ["${FLAKY}"${extra}]\n`;

const children: Child[] = [];
afterEach(async () => {
  // SIGTERM: a gateway that stops cleanly removes its containers (stop() still SIGKILLs after 10 s).
  for (const child of children.splice(0)) await child.stop("SIGTERM");
});

describe("help", () => {
  it.each([[["--help"]], [["serve", "--help"]], [["config", "check", "--help"]], [["token", "mint", "--help"]], [["policy", "--help"]]])("gatehouse %j prints usage and exits 0", (args) => {
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
  it("refuses a config without identity unless --insecure-no-auth, which is loopback-only and warns", () => {
    const file = join(tmp(), "open.yaml");
    writeFileSync(file, `servers: []\n`);
    const refused = spawnSync(process.execPath, [CLI, "serve", "--config", file, "--port", "0"], { encoding: "utf8", timeout: 20_000 });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/no token issuers are configured/);
    const exposed = spawnSync(process.execPath, [CLI, "serve", "--config", file, "--host", "0.0.0.0", "--port", "0", "--insecure-no-auth"], { encoding: "utf8", timeout: 20_000 });
    expect(exposed.status).toBe(2);
    expect(exposed.stderr).toMatch(/only on a loopback address/);
  });

  it("warns loudly on every start with --insecure-no-auth", async () => {
    const file = join(tmp(), "open.yaml");
    writeFileSync(file, `servers: []\n`);
    const { child } = await startGatehouseProcess(["--config", file, "--insecure-no-auth"]);
    children.push(child);
    expect(child.output()).toMatch(/WARNING: --insecure-no-auth: Gatehouse is NOT verifying who calls it/);
  });

  it("a tool-name collision at startup is a config error: exit 1 naming both servers", () => {
    const file = join(tmp(), "collide.yaml");
    writeFileSync(file, `naming: { prefix: never }\nservers:\n${flakyServer("one")}${flakyServer("two")}`);
    const result = spawnSync(process.execPath, [CLI, "serve", "--config", file, "--port", "0", "--insecure-no-auth"], { encoding: "utf8", timeout: 30_000 });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/"one".*"two"|"two".*"one"/);
  });

  it("prints its URL, drains an in-flight call on SIGTERM, and exits 0 leaving no backend behind", async () => {
    const dir = tmp();
    const file = join(dir, "gatehouse.yaml");
    writeFileSync(file, `servers:\n${flakyServer("flaky")}`);
    const { url, child } = await startGatehouseProcess(["--config", file, "--insecure-no-auth"]);
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
    const { url, child } = await startGatehouseProcess(["--config", file, "--insecure-no-auth"]);
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
  it("serve without --config starts the bundled servers and answers a dev-issuer token through them", async () => {
    const minted = run("token", "mint", "--agent", "demo", "--ttl", "10m");
    expect(minted.status).toBe(0);
    const token = minted.stdout.trim();
    expect(token.split(".")).toHaveLength(3);
    const { url, child } = await startGatehouseProcess([]);
    children.push(child);
    const anonymous = await fetch(url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer resource_metadata="http:\/\/127\.0\.0\.1:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    const client = new Client({ name: "defaults", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const names = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < 20; page++) {
      const result = await client.listTools(cursor === undefined ? {} : { cursor });
      for (const tool of result.tools) names.add(tool.name);
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    for (const name of ["everything__echo", "memory__read_graph", "notes__write_note", "clock__now", "probe__whoami"]) expect(names).toContain(name);
    const echo = await client.callTool({ name: "everything__echo", arguments: { message: "default config" } });
    expect(JSON.stringify(echo.content)).toContain("default config");
    // Our own servers run as hardened containers: the probe reports the sandbox from inside.
    const me = await client.callTool({ name: "probe__whoami", arguments: {} });
    expect(me.structuredContent).toMatchObject({ uid: 65532, capEff: "0000000000000000", rootReadOnly: true });
    const owner = ownerId(join(ROOT, ".gatehouse"));
    const servers = await Promise.all((await containersOf(owner)).map(async (id) => (await inspectContainer(id)).Config.Labels["io.gatehouse.server"]));
    expect(servers.sort()).toEqual(["clock", "notes", "probe"]);
    await client.close();
  }, 60_000);

  it("without a container engine, runs notes and clock as plain processes with a clear warning", async () => {
    const token = run("token", "mint", "--agent", "demo", "--ttl", "10m").stdout.trim();
    const { url, child } = await startGatehouseProcess([], { PATH: "/nonexistent-gatehouse-path", GATEHOUSE_LOG_LEVEL: "warn" });
    children.push(child);
    for (const server of ["notes", "clock"]) {
      expect(child.output()).toContain(
        `server \\"${server}\\": no container runtime found (podman or docker on PATH); running it as a plain process (node), WITHOUT container isolation`,
      );
    }
    const client = new Client({ name: "defaults", version: "1" });
    await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    const now = await client.callTool({ name: "clock__now", arguments: {} });
    expect(now.isError).not.toBe(true);
    const probe = await client.callTool({ name: "probe__whoami", arguments: {} }).then(
      (result) => JSON.stringify(result),
      (error: Error) => error.message,
    );
    // probe has no fallback (a sandbox probe outside a sandbox shows nothing): it never started, so it has no tools;
    // it is optional, so the gateway is ready without it, and the log says why it is down.
    expect(probe).toContain("Unknown tool: probe__whoami");
    const ready = (await (await fetch(url.replace(/\/mcp$/, "/readyz"))).json()) as { ready: boolean; servers: Record<string, string> };
    expect(ready).toMatchObject({ ready: true, servers: { notes: "ready", clock: "ready", probe: "restarting" } });
    expect(child.output()).toMatch(/"server":"probe"[^\n]*no container runtime found/);
    await client.close();
  }, 60_000);
});

describe("reload races", () => {
  it("two overlapping reloads and a shutdown leave no backend process behind", async () => {
    const { startGateway, configFrom } = await import("./helpers/gateway.ts");
    const one = `servers:\n${flakyServer("alpha")}`;
    const two = `servers:\n${flakyServer("alpha")}${flakyServer("beta", ', "--name", "beta"')}`;
    const gw = await startGateway(one);
    const pids = new Set<number>();
    const c = new Client({ name: "races", version: "1" });
    await c.connect(new StreamableHTTPClientTransport(new URL(gw.url)));
    const results = await Promise.all([gw.gateway.reload(configFrom(two)), gw.gateway.reload(configFrom(two))]);
    expect(results.every((r) => r.ok)).toBe(true);
    for (const name of ["alpha__process-info", "beta__process-info"]) {
      const info = await c.callTool({ name, arguments: {} });
      pids.add(JSON.parse((info.content as Array<{ text: string }>)[0]!.text).pid);
    }
    await c.close();
    await gw.close();
    await waitFor(() => ([...pids].every((pid) => !alive(pid)) ? true : undefined), 10_000, "every backend to exit");
    // The second reload found beta already running and changed nothing: no third process was ever started.
    const stray = spawnSync("pgrep", ["-f", "--", "--name beta"], { encoding: "utf8" }).stdout.trim();
    expect(stray).toBe("");
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("policy commands", () => {
  const input = (agent: string) => ({
    version: 1,
    identity: { agentId: agent, issuer: "dev", subject: agent, scopes: [], claims: {} },
    request: { method: "tools/call", server: "everything", tool: "echo", arguments: { message: "hi" } },
    tool: { annotations: {}, hash: "h" },
    session: { id: "s", clientInfo: { name: "c", version: "1" }, protocolVersion: "2025-11-25" },
    time: { now_ns: 1, rfc3339: "2026-01-01T00:00:00Z" },
    gateway: { version: "0.1.0", replica: "r" },
  });

  it("policy eval prints the shipped bundle's decision: exit 0 on allow, 3 on deny", () => {
    const dir = tmp();
    writeFileSync(join(dir, "demo.json"), JSON.stringify(input("demo")));
    writeFileSync(join(dir, "nobody.json"), JSON.stringify(input("nobody")));
    const allowed = run("policy", "eval", "--input", join(dir, "demo.json"));
    expect(allowed.status).toBe(0);
    expect(JSON.parse(allowed.stdout)).toMatchObject({ allow: true, effect: "allow" });
    const denied = run("policy", "eval", "--input", join(dir, "nobody.json"));
    expect(denied.status).toBe(3);
    expect(JSON.parse(denied.stdout).reasons.join(" ")).toMatch(/no grant/);
  });

  it("policy eval on a corrupt bundle is an error (exit 1), never an allow", () => {
    const dir = tmp();
    writeFileSync(join(dir, "in.json"), JSON.stringify(input("demo")));
    writeFileSync(join(dir, "broken.tar.gz"), "not a bundle");
    const result = run("policy", "eval", "--input", join(dir, "in.json"), "--bundle", join(dir, "broken.tar.gz"));
    expect(result.status).toBe(1);
    expect(result.stdout).not.toMatch(/"allow": true/);
  });

  it("policy test runs the Rego tests through the pinned opa", () => {
    const result = spawnSync(process.execPath, [CLI, "policy", "test"], { encoding: "utf8", timeout: 120_000 });
    expect(result.status).toBe(0);
    expect(result.stdout + result.stderr).toMatch(/PASS: \d+\/\d+/);
  });
});
