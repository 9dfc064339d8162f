/** `gatehouse serve --stdio`: the SDK client spawns the gateway as a stdio server, as desktop clients do. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { FLAKY, ROOT } from "./helpers/gateway.ts";

let client: Client;
let stderr = "";

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-stdio-"));
  const config = join(dir, "gatehouse.yaml");
  writeFileSync(config, `servers:\n  - name: flaky\n    transport: stdio\n    command: node\n    args: ["${FLAKY}"]\n`);
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [`${ROOT}gateway/cli/main.ts`, "serve", "--stdio", "--config", config, "--insecure-no-auth"],
    stderr: "pipe",
    env: { ...(process.env as Record<string, string>), GATEHOUSE_LOG_LEVEL: "info" },
  });
  transport.stderr?.on("data", (d) => (stderr += d));
  client = new Client({ name: "stdio-test", version: "1" }, { capabilities: { sampling: {} } });
  await client.connect(transport);
});

afterAll(async () => {
  await client?.close();
});

describe("serve --stdio", () => {
  it("initializes as the gateway and lists the backend's tools unprefixed (one server)", async () => {
    expect(client.getServerVersion()?.name).toBe("gatehouse");
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain("echo");
  });

  it("forwards calls, progress and sampling over stdio", async () => {
    const echo = await client.callTool({ name: "echo", arguments: { text: "over stdio" } });
    expect(JSON.stringify(echo.content)).toContain("over stdio");
    const progress: number[] = [];
    await client.callTool({ name: "slow", arguments: { ms: 300, steps: 3 } }, undefined, { onprogress: (p) => progress.push(p.progress) });
    // The SDK 1.32 client drops a progress notification that arrives in the same read as the result (it removes
    // the handler before its queued dispatch runs), so the last step may be lost on the client's side.
    expect(progress.slice(0, 2)).toEqual([1, 2]);
    const { CreateMessageRequestSchema } = await import("@modelcontextprotocol/sdk/types.js");
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ model: "m", role: "assistant", content: { type: "text", text: "stdio sample" } }));
    const sampled = await client.callTool({ name: "sample", arguments: { prompt: "q" } });
    expect(JSON.stringify(sampled.content)).toContain("stdio sample");
  });

  it("logs (at info here) go to stderr, so stdout carries only protocol", () => {
    // Had a log line reached stdout, the client would have choked on it in the tests above.
    expect(stderr).toMatch(/"server":"flaky".*"msg":"backend ready"/);
  });
});

describe("serve --stdio with identity", () => {
  const CLI = `${ROOT}gateway/cli/main.ts`;
  const setup = async () => {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { ensureDevIssuer, mintDevToken } = await import("../gateway/identity/index.ts");
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-stdio-id-"));
    const dev = await ensureDevIssuer(dir);
    const config = join(dir, "gatehouse.yaml");
    writeFileSync(
      config,
      `dataDir: ${dir}\nidentity:\n  audience: stdio-test\n  issuers:\n    - { name: dev, kind: static, issuer: gatehouse-dev, jwksFile: "${dev.jwksFile}" }\n` +
        `servers:\n  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"], identity: assertion }\n`,
    );
    const token = await mintDevToken({ dataDir: dir, issuer: "gatehouse-dev", audience: "stdio-test", agent: "desktop-agent", scopes: [], ttlSeconds: 600 });
    return { config, token };
  };

  it("takes the agent's token from GATEHOUSE_TOKEN, and backends see that agent in their assertion", async () => {
    const { config, token } = await setup();
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, "serve", "--stdio", "--config", config],
      env: { ...(process.env as Record<string, string>), GATEHOUSE_TOKEN: token },
    });
    const c = new Client({ name: "stdio-id", version: "1" });
    await c.connect(transport);
    const result = await c.callTool({ name: "whoami", arguments: {} });
    const meta = JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as Record<string, string>;
    const payload = JSON.parse(Buffer.from(meta["io.gatehouse/identity"]!.split(".")[1]!, "base64url").toString("utf8"));
    expect(payload.sub).toBe("desktop-agent");
    await c.close();
  });

  it("refuses to start without a token, or with a bad one, saying why", async () => {
    const { config } = await setup();
    const { spawnSync } = await import("node:child_process");
    const env = { ...process.env } as Record<string, string>;
    delete env.GATEHOUSE_TOKEN;
    const missing = spawnSync(process.execPath, [CLI, "serve", "--stdio", "--config", config], { encoding: "utf8", env, input: "", timeout: 20_000 });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/set GATEHOUSE_TOKEN/);
    const bad = spawnSync(process.execPath, [CLI, "serve", "--stdio", "--config", config], { encoding: "utf8", env: { ...env, GATEHOUSE_TOKEN: "x.y.z" }, input: "", timeout: 20_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/GATEHOUSE_TOKEN was refused/);
  });
});

describe("serve --stdio initialize", () => {
  it("answers an initialize without capabilities with -32602, as the HTTP endpoint does", async () => {
    const { spawn } = await import("node:child_process");
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-stdio-init-"));
    const config = join(dir, "gatehouse.yaml");
    writeFileSync(config, "servers: []\n");
    const child = spawn(process.execPath, [`${ROOT}gateway/cli/main.ts`, "serve", "--stdio", "--config", config, "--insecure-no-auth"], { stdio: ["pipe", "pipe", "ignore"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stdin.write(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25" } }) + "\n");
    const deadline = Date.now() + 15_000;
    while (!out.includes("\n") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    child.kill("SIGTERM");
    expect(JSON.parse(out.split("\n")[0]!)).toMatchObject({ id: 1, error: { code: -32602 } });
  });
});
