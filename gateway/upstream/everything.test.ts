// The reference server (@modelcontextprotocol/server-everything) behind each of our transports.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ServerConfig } from "../config/schema.ts";
import { everythingStdioArgs, startEverything, type RunningEverything } from "../../test/fixtures/everything.ts";
import { createBackend, type Backend, type CallOwner } from "./index.ts";
import { RecordingHooks, firstText, waitFor } from "./testing.ts";

interface Case {
  transport: "stdio" | "http" | "sse";
  /** Streamable HTTP relates a server request to the call whose response stream carried it; the others cannot. */
  exactOwners: boolean;
}

const cases: Case[] = [
  { transport: "stdio", exactOwners: false },
  { transport: "http", exactOwners: true },
  { transport: "sse", exactOwners: false },
];

describe.each(cases)("server-everything over $transport", ({ transport, exactOwners }) => {
  const hooks = new RecordingHooks();
  let server: RunningEverything | undefined;
  let backend: Backend;

  beforeAll(async () => {
    const common = { name: "everything", timeoutMs: 10_000, required: true, identity: "none" as const, roots: true };
    let config: ServerConfig;
    if (transport === "stdio") {
      config = { ...common, transport, command: "node", args: everythingStdioArgs, env: {} };
    } else {
      server = await startEverything(transport === "http" ? "streamableHttp" : "sse");
      config = { ...common, transport, url: server.url, headers: { "x-gatehouse-test": "1" }, scope: "shared", protocol: "auto" };
    }
    backend = createBackend(config, hooks, { configDir: process.cwd() });
    await backend.start();
  });

  afterAll(async () => {
    await backend?.stop();
    await server?.close();
  });

  it("initializes and lists the tools it registers for our capabilities", () => {
    expect(backend.state).toBe("ready");
    expect(backend.serverInfo?.name).toBe("mcp-servers/everything");
    expect(backend.protocolVersion).toBe("2025-11-25");
    const names = backend.catalog.tools.map((tool) => tool.name);
    expect(names).toContain("echo");
    // Registered only after initialize, and only because we declared sampling and elicitation.
    expect(names).toContain("trigger-sampling-request");
    expect(names).toContain("trigger-elicitation-request");
    expect(backend.catalog.prompts.length).toBeGreaterThan(0);
    expect(backend.catalog.resources.length).toBeGreaterThan(0);
    expect(hooks.catalogChanges[0]).toEqual(expect.arrayContaining(["tools", "prompts", "resources"]));
  });

  it("calls echo", async () => {
    const result = await backend.request("tools/call", { name: "echo", arguments: { message: `hello ${transport}` } });
    expect(firstText(result)).toBe(`Echo: hello ${transport}`);
  });

  it("answers the roots request it sends after initialize", async () => {
    const roots = await waitFor(() => hooks.serverRequests.find((record) => record.message.method === "roots/list"), "roots/list");
    expect(roots.owners).toEqual([]);
    // The server logs what it received, which proves our answer reached it.
    const log = await waitFor(
      () => hooks.notifications.find((entry) => String(entry.message.params?.data).startsWith("Roots updated: 1 root(s)")),
      "the server's roots log message",
    );
    expect(log.owner).toBeUndefined();
  });

  it("delivers progress to the caller", async () => {
    const owner = { sessionId: `progress-${transport}` };
    const token = `tok-${transport}`;
    const result = await backend.request(
      "tools/call",
      { name: "trigger-long-running-operation", arguments: { duration: 0.3, steps: 3 }, _meta: { progressToken: token } },
      { owner },
    );
    expect(firstText(result)).toContain("Long running operation completed");
    const progress = hooks.notifications.filter((entry) => entry.message.params?.progressToken === token);
    expect(progress.map((entry) => entry.message.params?.progress)).toEqual([1, 2, 3]);
    expect(progress.every((entry) => entry.owner === owner)).toBe(true);
  });

  it(`hands sampling requests to ${exactOwners ? "exactly the calling owner" : "every owner in flight"}`, async () => {
    const a: CallOwner = { sessionId: `A-${transport}` };
    const b: CallOwner = { sessionId: `B-${transport}` };
    const before = hooks.serverRequests.length;
    const isSampling = (index: number) => hooks.serverRequests[index]?.message.method === "sampling/createMessage";
    const bothArrived = waitFor(
      () => hooks.serverRequests.slice(before).filter((_, k) => isSampling(before + k)).length >= 2,
      "two sampling requests",
    );
    hooks.answer = async (record) => {
      // Hold each answer until both calls wait on one, so both are in flight when owners are computed.
      if (record.message.method === "sampling/createMessage") await bothArrived;
      return { role: "assistant", model: "m", content: { type: "text", text: "sampled" } };
    };
    const [fromA, fromB] = await Promise.all([
      backend.request("tools/call", { name: "trigger-sampling-request", arguments: { prompt: "from-A" } }, { owner: a }),
      backend.request("tools/call", { name: "trigger-sampling-request", arguments: { prompt: "from-B" } }, { owner: b }),
    ]);
    expect(firstText(fromA)).toContain("sampled");
    expect(firstText(fromB)).toContain("sampled");
    const sampling = hooks.serverRequests.slice(before).filter((record) => record.message.method === "sampling/createMessage");
    expect(sampling).toHaveLength(2);
    for (const record of sampling) {
      const text = JSON.stringify(record.message.params);
      const caller = text.includes("from-A") ? a : b;
      const ids = record.owners.map((owner) => owner.sessionId).sort();
      expect(ids).toEqual(exactOwners ? [caller.sessionId] : [a.sessionId, b.sessionId]);
    }
  });
});
