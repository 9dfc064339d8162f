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
