/**
 * Messages a backend sends while serving a call must reach the client that made the call, and only that client,
 * even though both clients share one backend connection.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";
import { EVERYTHING, FLAKY, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";
import { startEverything, type RunningEverything } from "./helpers/processes.ts";

let gw: RunningGateway;
let everythingHttp: RunningEverything;
const clients: Client[] = [];

async function client(name: string, capabilities: Record<string, unknown> = {}): Promise<Client> {
  const c = await connectClient(gw.url, name, { capabilities });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  everythingHttp = await startEverything("streamableHttp");
  gw = await startGateway(`
servers:
  - name: everything
    transport: stdio
    command: node
    args: ["${EVERYTHING}", "stdio"]
  - name: remote
    transport: http
    url: ${everythingHttp.url}
  - name: flaky
    transport: stdio
    command: node
    args: ["${FLAKY}"]
`);
});

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => {});
  await gw?.close();
  await everythingHttp?.close();
});

describe("progress", () => {
  it("each of two concurrent clients gets only its own progress, with its own token", async () => {
    const [a, b] = [await client("a"), await client("b")];
    const seenA: Array<{ progress: number; total?: number }> = [];
    const seenB: Array<{ progress: number; total?: number }> = [];
    const call = (c: Client, steps: number, seen: typeof seenA) =>
      c.callTool({ name: "everything__trigger-long-running-operation", arguments: { duration: 1, steps } }, undefined, {
        onprogress: (p) => seen.push(p),
      });
    await Promise.all([call(a, 3, seenA), call(b, 5, seenB)]);
    expect(seenA.length).toBe(3);
    expect(seenB.length).toBe(5);
    expect(seenA.every((p) => p.total === 3)).toBe(true);
    expect(seenB.every((p) => p.total === 5)).toBe(true);
  });
});

describe("server-to-client requests", () => {
  it("sampling from a Streamable HTTP backend reaches the right one of two concurrent clients", async () => {
    const answers = { a: 0, b: 0 };
    const make = async (name: "a" | "b") => {
      const c = await client(`sampler-${name}`, { sampling: {} });
      c.setRequestHandler(CreateMessageRequestSchema, async () => {
        answers[name]++;
        await new Promise((r) => setTimeout(r, 50));
        return { model: `model-${name}`, role: "assistant", content: { type: "text", text: `answer from ${name}` } };
      });
      return c;
    };
    const [a, b] = [await make("a"), await make("b")];
    const tools = (await a.listTools()).tools.map((t) => t.name);
    expect(tools).toContain("remote__trigger-sampling-request");
    const [ra, rb] = await Promise.all([
      a.callTool({ name: "remote__trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 10 } }),
      b.callTool({ name: "remote__trigger-sampling-request", arguments: { prompt: "hi", maxTokens: 10 } }),
    ]);
    expect(JSON.stringify(ra.content)).toContain("answer from a");
    expect(JSON.stringify(rb.content)).toContain("answer from b");
    expect(answers).toEqual({ a: 1, b: 1 });
  });

  it("elicitation from a stdio backend reaches the calling client and the answer returns to the backend", async () => {
    const c = await client("eliciter", { elicitation: {} });
    let asked = "";
    c.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked = request.params.message;
      return { action: "accept", content: { confirmed: true } };
    });
    const result = await c.callTool({ name: "flaky__elicit", arguments: { message: "may I?" } });
    expect(asked).toBe("may I?");
    expect(JSON.stringify(result.content)).toContain("accept");
    expect(JSON.stringify(result.content)).toContain("confirmed");
  });

  it("sampling from a stdio backend reaches the single calling client", async () => {
    const c = await client("stdio-sampler", { sampling: {} });
    c.setRequestHandler(CreateMessageRequestSchema, async () => ({
      model: "m",
      role: "assistant",
      content: { type: "text", text: "sampled over stdio" },
    }));
    const result = await c.callTool({ name: "flaky__sample", arguments: { prompt: "p" } });
    expect(JSON.stringify(result.content)).toContain("sampled over stdio");
  });

  it("a client without the sampling capability gets the backend's call failing, not another client's answer", async () => {
    const c = await client("no-sampling");
    const result = await c.callTool({ name: "flaky__sample", arguments: { prompt: "p" } }).catch((e: Error) => ({ error: e.message }));
    expect(JSON.stringify(result)).toMatch(/the client did not declare the sampling capability/);
  });
});

describe("attribution over a shared stdio backend", () => {
  it("refuses a sampling request it cannot attribute, rather than ask the wrong agent", async () => {
    const asked: string[] = [];
    const make = async (name: string) => {
      const c = await client(name, { sampling: {} });
      c.setRequestHandler(CreateMessageRequestSchema, async () => {
        asked.push(name);
        return { model: "m", role: "assistant", content: { type: "text", text: `from ${name}` } };
      });
      return c;
    };
    const [bystander, caller] = [await make("bystander"), await make("caller")];
    const controller = new AbortController();
    const hanging = bystander.callTool({ name: "flaky__hang", arguments: {} }, undefined, { signal: controller.signal }).catch(() => "cancelled");
    await waitFor(() => (gw.gateway.dispatcher.inflight.size > 0 ? true : undefined), 5000, "the bystander's call to be in flight");
    const result = await caller.callTool({ name: "flaky__sample", arguments: { prompt: "who am I?" } }).then(
      (r) => JSON.stringify(r),
      (e: Error) => e.message,
    );
    expect(result).toMatch(/cannot tell which client/);
    expect(asked).toEqual([]);
    controller.abort();
    expect(await hanging).toBe("cancelled");
  });
});

describe("list_changed", () => {
  it("a backend's tools/list_changed rebuilds the table and reaches clients", async () => {
    const c = await client("watcher");
    let changed = 0;
    c.setNotificationHandler(ToolListChangedNotificationSchema, async () => {
      changed++;
    });
    // The SDK client opens its GET stream after initialize; give it a moment to attach.
    await waitFor(() => [...gw.gateway.sessions.local.values()].some((s) => s.clientInfo?.name === "watcher" && s.hasStandaloneChannel) || undefined);
    await c.callTool({ name: "flaky__add-tool", arguments: { name: "fresh" } });
    await waitFor(() => changed > 0 || undefined, 10_000, "tools/list_changed");
    const names = (await c.listTools()).tools.map((t) => t.name);
    expect(names).toContain("flaky__fresh");
    const result = await c.callTool({ name: "flaky__fresh", arguments: {} });
    expect(result.isError).not.toBe(true);
  });
});
