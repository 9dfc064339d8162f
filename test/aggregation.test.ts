/**
 * Aggregation through the gateway with real backends and the SDK Client: server-everything (stdio), the
 * filesystem server on a temp dir, and our flaky fixture.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, writeFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { EVERYTHING, FILESYSTEM, FLAKY, connectClient, startGateway, type RunningGateway } from "./helpers/gateway.ts";

let gw: RunningGateway;
let client: Client;
const dir = realpathSync(mkdtempSync(join(tmpdir(), "gatehouse-fs-")));
writeFileSync(join(dir, "hello.txt"), "hello from the filesystem server");

beforeAll(async () => {
  gw = await startGateway(`
http: { pageSize: 7 }
servers:
  - name: everything
    transport: stdio
    command: node
    args: ["${EVERYTHING}", "stdio"]
  - name: files
    transport: stdio
    command: node
    args: ["${FILESYSTEM}", "${dir}"]
    alias: fs
    tools: { deny: ["*directory*", "move_file"] }
  - name: flaky
    transport: stdio
    command: node
    args: ["${FLAKY}", "--resources"]
`);
  client = await connectClient(gw.url);
});

afterAll(async () => {
  await client?.close();
  await gw?.close();
});

async function allTools(c: Client): Promise<string[]> {
  const names: string[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < 100; page++) {
    const result = await c.listTools(cursor === undefined ? {} : { cursor });
    expect(result.tools.length).toBeLessThanOrEqual(7);
    names.push(...result.tools.map((t) => t.name));
    cursor = result.nextCursor;
    if (cursor === undefined) return names;
  }
  throw new Error("pagination did not end");
}

describe("one endpoint, many servers", () => {
  it("initialize answers as the gateway, with merged capabilities", () => {
    expect(client.getServerVersion()?.name).toBe("gatehouse");
    const caps = client.getServerCapabilities();
    expect(caps?.tools?.listChanged).toBe(true);
    expect(caps?.resources?.subscribe).toBe(true);
    expect(caps?.completions).toBeDefined();
  });

  it("tools/list pages through the merged, prefixed set with gateway cursors", async () => {
    const names = await allTools(client);
    expect(names).toContain("everything__echo");
    expect(names).toContain("fs__read_text_file");
    expect(names).toContain("flaky__echo");
    // the static filter hides these
    expect(names.some((n) => n.startsWith("fs__") && n.includes("directory"))).toBe(false);
    expect(names).not.toContain("fs__move_file");
    expect(new Set(names).size).toBe(names.length);
  });

  it("tools/call goes to the owning server, by prefixed name", async () => {
    const everything = await client.callTool({ name: "everything__echo", arguments: { message: "via gateway" } });
    expect(JSON.stringify(everything.content)).toContain("via gateway");
    const flaky = await client.callTool({ name: "flaky__echo", arguments: { text: "from flaky" } });
    expect(JSON.stringify(flaky.content)).toContain("from flaky");
    const file = await client.callTool({ name: "fs__read_text_file", arguments: { path: join(dir, "hello.txt") } });
    expect(JSON.stringify(file.content)).toContain("hello from the filesystem server");
  });

  it("a tool hidden by the static filter is an unknown tool", async () => {
    await expect(client.callTool({ name: "fs__list_directory", arguments: { path: dir } })).rejects.toThrow(/Unknown tool: fs__list_directory/);
  });

  it("resources and templates merge; reads route by URI, templates included", async () => {
    const resources = await client.listResources();
    expect(resources.resources.length).toBeGreaterThan(0);
    const templates = await client.listResourceTemplates();
    const uris = templates.resourceTemplates.map((t) => t.uriTemplate);
    expect(uris.some((u) => u.startsWith("demo://resource/dynamic/text/"))).toBe(true);
    const read = await client.readResource({ uri: "demo://resource/dynamic/text/3" });
    expect(read.contents[0]?.uri).toBe("demo://resource/dynamic/text/3");
    await expect(client.readResource({ uri: "nowhere://nothing" })).rejects.toThrow(/Resource not found/);
  });

  it("prompts merge and prompts/get routes by prefixed name; completion routes by ref", async () => {
    const prompts = await client.listPrompts();
    expect(prompts.prompts.map((p) => p.name)).toContain("everything__simple-prompt");
    const prompt = await client.getPrompt({ name: "everything__args-prompt", arguments: { city: "Lisbon" } });
    expect(JSON.stringify(prompt.messages)).toContain("Lisbon");
    const completion = await client.complete({
      ref: { type: "ref/prompt", name: "everything__completable-prompt" },
      argument: { name: "department", value: "E" },
    });
    expect(completion.completion.values).toContain("Engineering");
  });

  it("ping is answered by the gateway", async () => {
    await expect(client.ping()).resolves.toEqual({});
  });
});
