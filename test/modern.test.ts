/**
 * MCP 2026-07-28 (stateless) clients through the gateway to real backends (server-everything and the flaky
 * fixture over stdio), with a hand-written spec-faithful client (test/helpers/modern-client.ts), while 2025 SDK
 * clients use the same endpoint.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CreateMessageRequestSchema, ElicitRequestSchema, ToolListChangedNotificationSchema } from "@modelcontextprotocol/sdk/types.js";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { EVERYTHING, FLAKY, connectClient, startGateway, waitFor, type RunningGateway } from "./helpers/gateway.ts";
import { MODERN, ModernClient, resultOf } from "./helpers/modern-client.ts";
import type { JsonObject, JsonRpcFailure, JsonRpcNotification } from "../gateway/protocol/index.ts";
import { queryAudit } from "../gateway/audit/index.ts";

let gw: RunningGateway;
const legacyClients: Client[] = [];

beforeAll(async () => {
  gw = await startGateway(`
servers:
  - name: everything
    transport: stdio
    command: node
    args: ["${EVERYTHING}", "stdio"]
  - name: flaky
    transport: stdio
    command: node
    args: ["${FLAKY}"]
`);
});

afterAll(async () => {
  for (const c of legacyClients) await c.close().catch(() => {});
  await gw?.close();
});

const client = (options: Partial<ConstructorParameters<typeof ModernClient>[0]> = {}) => new ModernClient({ url: gw.url, ...options });
const errorOf = (reply: { response?: unknown }) => (reply.response as JsonRpcFailure).error;

describe("2026-07-28 requests", () => {
  it("server/discover names both protocol families, the merged capabilities and caching hints", async () => {
    const result = await client().discover();
    expect(result).toMatchObject({
      resultType: "complete",
      supportedVersions: ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"],
      capabilities: { tools: { listChanged: true }, resources: { subscribe: true } },
      cacheScope: "public",
      _meta: { "io.modelcontextprotocol/serverInfo": { name: "gatehouse" } },
    });
    expect(result.ttlMs).toBeGreaterThan(0);
  });

  it("tools/list is the merged catalog with resultType and caching hints (public: no policy filters it)", async () => {
    const reply = await client().request("tools/list");
    expect(reply.status).toBe(200);
    const result = resultOf(reply);
    expect(result).toMatchObject({ resultType: "complete", ttlMs: 60_000, cacheScope: "public" });
    const names = (result.tools as Array<{ name: string }>).map((t) => t.name);
    expect(names).toEqual(expect.arrayContaining(["everything__echo", "flaky__echo", "everything__trigger-long-running-operation"]));
  });

  it("tools/call answers with no session: no Mcp-Session-Id is minted", async () => {
    const reply = await client().request("tools/call", { name: "everything__echo", arguments: { message: "stateless" } });
    expect(reply.status).toBe(200);
    expect(resultOf(reply)).toMatchObject({ resultType: "complete", content: [{ type: "text", text: "Echo: stateless" }] });
    const raw = await fetch(gw.url, { method: "POST", headers: client().headersFor("tools/list", {}), body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/list", params: { _meta: client().meta() } }) });
    expect(raw.headers.get("mcp-session-id")).toBeNull();
  });

  it("progress arrives on the call's own SSE response stream with the client's token, then the result", async () => {
    const progress: JsonRpcNotification[] = [];
    const [reply] = await client().callTool("everything__trigger-long-running-operation", { duration: 1, steps: 3 }, { progressToken: "tok-1", onNotification: (n) => progress.push(n) });
    expect(reply!.contentType).toBe("text/event-stream");
    expect(progress.length).toBe(3);
    expect(progress.every((n) => n.method === "notifications/progress" && n.params?.progressToken === "tok-1")).toBe(true);
    expect(resultOf(reply!)).toMatchObject({ resultType: "complete" });
  });

  it("elicitation through MRTR: input_required, then the retry with inputResponses gets the final result", async () => {
    const seen: Array<Record<string, { method: string; params?: JsonObject }>> = [];
    const rounds = await client({ capabilities: { elicitation: { form: {} } } }).callTool("everything__trigger-elicitation-request", {}, {
      onInput: async (requests) => {
        seen.push(requests);
        const [key] = Object.keys(requests);
        return { [key!]: { action: "accept", content: { name: "Ada Lovelace", check: true, email: "ada@example.com" } } };
      },
    });
    expect(rounds).toHaveLength(2);
    const first = resultOf(rounds[0]!);
    expect(first.resultType).toBe("input_required");
    expect(typeof first.requestState).toBe("string");
    expect(Object.values(seen[0]!)).toEqual([expect.objectContaining({ method: "elicitation/create", params: expect.objectContaining({ requestedSchema: expect.any(Object) }) })]);
    const final = resultOf(rounds[1]!);
    expect(final.resultType).toBe("complete");
    expect(JSON.stringify(final.content)).toContain("Ada Lovelace");
  });

  it("sampling through MRTR: the backend's sampling/createMessage becomes an input request; the answer reaches it", async () => {
    const rounds = await client({ capabilities: { sampling: {} } }).callTool("flaky__sample", { prompt: "haiku please" }, {
      onInput: async (requests) => {
        const [key, request] = Object.entries(requests)[0]!;
        expect(request.method).toBe("sampling/createMessage");
        expect(JSON.stringify(request.params)).toContain("haiku please");
        return { [key]: { role: "assistant", content: { type: "text", text: "an old silent pond" }, model: "test-model" } };
      },
    });
    expect(rounds.map((r) => resultOf(r).resultType)).toEqual(["input_required", "complete"]);
    expect(resultOf(rounds[1]!).content).toEqual([{ type: "text", text: "an old silent pond" }]);
  });

  it("sampling through MRTR to server-everything: its trigger-sampling-request gets the client's answer", async () => {
    const rounds = await client({ capabilities: { sampling: {} } }).callTool("everything__trigger-sampling-request", { prompt: "name a colour", maxTokens: 20 }, {
      onInput: async (requests) => {
        const [key, request] = Object.entries(requests)[0]!;
        expect(request.method).toBe("sampling/createMessage");
        expect(JSON.stringify(request.params)).toContain("name a colour");
        return { [key]: { role: "assistant", content: { type: "text", text: "ultramarine" }, model: "test-model", stopReason: "endTurn" } };
      },
    });
    expect(rounds.map((r) => resultOf(r).resultType)).toEqual(["input_required", "complete"]);
    expect(JSON.stringify(resultOf(rounds[1]!).content)).toContain("ultramarine");
  });

  it("a call needing a capability the request did not declare is 400 + -32021 naming it", async () => {
    const reply = await client({ capabilities: {} }).request("tools/call", { name: "flaky__sample", arguments: { prompt: "x" } });
    expect(reply.status).toBe(400);
    expect(errorOf(reply)).toMatchObject({ code: -32021, data: { requiredCapabilities: { sampling: {} } } });
    // The backend call was cancelled, and nothing is held for a retry.
    await waitFor(() => gw.gateway.dispatcher.inflight.size === 0 || undefined, 5_000, "the call to end");
    expect(gw.gateway.modern.rounds.size).toBe(0);
  });

  it("a retry whose requestState is unknown, or belongs to another request (name or arguments), is -32602", async () => {
    const c = client({ capabilities: { elicitation: {} } });
    const unknown = await c.request("tools/call", { name: "flaky__elicit", arguments: { message: "m" }, requestState: "nope", inputResponses: {} });
    expect(errorOf(unknown)).toMatchObject({ code: -32602, message: expect.stringMatching(/requestState is unknown or expired/) });
    const first = resultOf(await c.request("tools/call", { name: "flaky__elicit", arguments: { message: "m" } }));
    expect(first.resultType).toBe("input_required");
    const other = await c.request("tools/call", { name: "flaky__echo", arguments: { text: "t" }, requestState: first.requestState as string, inputResponses: {} });
    expect(errorOf(other)).toMatchObject({ code: -32602, message: expect.stringMatching(/belongs to a different request/) });
    // The held call runs with the first round's arguments, so a retry must repeat them.
    const changed = await c.request("tools/call", { name: "flaky__elicit", arguments: { message: "changed" }, requestState: first.requestState as string, inputResponses: {} });
    expect(errorOf(changed)).toMatchObject({ code: -32602, message: expect.stringMatching(/belongs to a different request/) });
    // A retry that leaves the question unanswered is asked again, not failed (the spec's SHOULD).
    const again = resultOf(await c.request("tools/call", { name: "flaky__elicit", arguments: { message: "m" }, requestState: first.requestState as string, inputResponses: {} }));
    expect(again).toMatchObject({ resultType: "input_required", requestState: first.requestState });
    const [key] = Object.keys(again.inputRequests as JsonObject);
    const done = resultOf(await c.request("tools/call", { name: "flaky__elicit", arguments: { message: "m" }, requestState: first.requestState as string, inputResponses: { [key!]: { action: "decline" } } }));
    expect(done).toMatchObject({ resultType: "complete", content: [{ type: "text", text: expect.stringContaining("decline") }] });
  });

  it("closing the response stream cancels the call at the backend", async () => {
    const cancellations = async () =>
      JSON.parse((resultOf(await client().request("tools/call", { name: "flaky__cancellations", arguments: {} })).content as Array<{ text: string }>)[0]!.text) as Array<{ reason?: string }>;
    const before = (await cancellations()).length;
    const controller = new AbortController();
    const pending = client().request("tools/call", { name: "flaky__hang", arguments: {} }, { signal: controller.signal }).catch((e: Error) => e);
    await waitFor(() => gw.gateway.dispatcher.inflight.size > 0 || undefined, 5_000, "the call to be in flight");
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    const after = await waitFor(async () => {
      const list = await cancellations();
      return list.length > before ? list : undefined;
    }, 5_000, "the backend to see the cancellation");
    expect(after.at(-1)!.reason).toMatch(/cancelled/);
    expect(gw.gateway.dispatcher.inflight.size).toBe(0);
  });

  it("subscriptions/listen: acknowledged first, then list_changed for opted-in kinds only, tagged with the subscription id", async () => {
    const c = client();
    const stream = c.listen({ toolsListChanged: true });
    expect(await stream.status).toBe(200);
    const ack = await waitFor(() => stream.messages[0], 5_000, "the acknowledgment");
    expect(ack).toMatchObject({ method: "notifications/subscriptions/acknowledged", params: { notifications: { toolsListChanged: true } } });
    const subscriptionId = (ack as JsonRpcNotification).params!._meta as JsonObject;
    expect(subscriptionId).toEqual({ "io.modelcontextprotocol/subscriptionId": stream.id });
    await c.request("tools/call", { name: "flaky__add-tool", arguments: { name: "fresh-tool" } });
    const changed = await waitFor(() => stream.messages.find((m) => "method" in m && m.method === "notifications/tools/list_changed"), 10_000, "tools/list_changed");
    expect((changed as JsonRpcNotification).params?._meta).toEqual(subscriptionId);
    expect(stream.messages.some((m) => "method" in m && m.method === "notifications/prompts/list_changed")).toBe(false);
    stream.close();
    await waitFor(() => gw.gateway.modern.listeners.size === 0 || undefined, 5_000, "the listener to close");
    const tools = (resultOf(await c.request("tools/list")).tools as Array<{ name: string }>).map((t) => t.name);
    expect(tools).toContain("flaky__fresh-tool");
  });

  it("subscriptions/listen with resourceSubscriptions delivers resources/updated for that URI", async () => {
    const legacy = await connectClient(gw.url, "toggler");
    legacyClients.push(legacy);
    const uri = (await legacy.listResources()).resources.find((r) => r.uri.includes("everything"))?.uri ?? (await legacy.listResources()).resources[0]!.uri;
    const stream = client().listen({ resourceSubscriptions: [uri] });
    const ack = await waitFor(() => stream.messages[0], 5_000, "the acknowledgment");
    expect(ack).toMatchObject({ params: { notifications: { resourceSubscriptions: [uri] } } });
    await legacy.callTool({ name: "everything__toggle-subscriber-updates", arguments: {} });
    try {
      const updated = await waitFor(() => stream.messages.find((m) => "method" in m && m.method === "notifications/resources/updated"), 15_000, "resources/updated");
      expect((updated as JsonRpcNotification).params).toMatchObject({ uri });
    } finally {
      await legacy.callTool({ name: "everything__toggle-subscriber-updates", arguments: {} });
      stream.close();
    }
  });
});

describe("shutdown", () => {
  it("ends open listen streams gracefully (the listen request's result) and cancels held MRTR calls", async () => {
    const own = await startGateway(`
servers:
  - { name: flaky, transport: stdio, command: node, args: ["${FLAKY}"] }
`);
    const c = new ModernClient({ url: own.url, capabilities: { elicitation: {} } });
    const stream = c.listen({ toolsListChanged: true });
    await waitFor(() => stream.messages[0], 5_000, "the acknowledgment");
    const held = resultOf(await c.request("tools/call", { name: "elicit", arguments: { message: "m" } }));
    expect(held.resultType).toBe("input_required");
    expect(own.gateway.modern.rounds.size).toBe(1);
    const started = Date.now();
    await own.close();
    expect(Date.now() - started).toBeLessThan(5_000); // the held call did not hold the drain
    const end = await waitFor(() => stream.messages.find((m) => "result" in m), 5_000, "the graceful end");
    expect(end).toEqual({ jsonrpc: "2.0", id: stream.id, result: { resultType: "complete", _meta: { "io.modelcontextprotocol/subscriptionId": stream.id } } });
    expect(own.gateway.modern.rounds.size).toBe(0);
  });
});

describe("2025 SDK clients beside 2026-07-28 ones", () => {
  it("sessions, server-to-client requests and notifications of concurrent 2025 clients are unaffected", async () => {
    const legacy = await connectClient(gw.url, "legacy", { capabilities: { sampling: {} } });
    legacyClients.push(legacy);
    legacy.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: "assistant", content: { type: "text", text: "from the 2025 client" }, model: "m" }));
    let changed = 0;
    legacy.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed++;
    });
    const modern = client({ capabilities: { sampling: {} } });
    const work = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => legacy.callTool({ name: "flaky__echo", arguments: { text: `legacy-${i}` } })),
      ...Array.from({ length: 10 }, (_, i) => modern.request("tools/call", { name: "flaky__echo", arguments: { text: `modern-${i}` } })),
      legacy.callTool({ name: "flaky__sample", arguments: { prompt: "p" } }),
    ]);
    for (let i = 0; i < 10; i++) expect((work[i] as { content: unknown }).content).toEqual([{ type: "text", text: `legacy-${i}` }]);
    for (let i = 0; i < 10; i++) expect(resultOf(work[10 + i] as never).content).toEqual([{ type: "text", text: `modern-${i}` }]);
    expect((work[20] as { content: unknown }).content).toEqual([{ type: "text", text: "from the 2025 client" }]);
    await modern.request("tools/call", { name: "flaky__add-tool", arguments: { name: "for-legacy" } });
    await waitFor(() => changed > 0 || undefined, 10_000, "the 2025 client's list_changed");
    expect(gw.gateway.sessions.local.size).toBeGreaterThan(0);
  });
});

describe("header validation (each case 400/404/405 with the precise code, nothing reaches a backend)", () => {
  const c = () => client();
  const echo = { name: "flaky__echo", arguments: { text: "hi" } };
  const cases: Array<{ name: string; run: () => Promise<{ status: number; response?: unknown }>; status: number; code?: number; message?: RegExp }> = [
    { name: "no Mcp-Method", run: () => c().request("tools/call", echo, { headers: { "mcp-method": null } }), status: 400, code: -32020, message: /Mcp-Method header is required/ },
    { name: "Mcp-Method not the body's method", run: () => c().request("tools/call", echo, { headers: { "mcp-method": "prompts/get" } }), status: 400, code: -32020, message: /Mcp-Method header value "prompts\/get" does not match body value "tools\/call"/ },
    { name: "no Mcp-Name on tools/call", run: () => c().request("tools/call", echo, { headers: { "mcp-name": null } }), status: 400, code: -32020, message: /Mcp-Name header is required for tools\/call/ },
    { name: "Mcp-Name not the body's name", run: () => c().request("tools/call", echo, { headers: { "mcp-name": "flaky__hang" } }), status: 400, code: -32020, message: /Mcp-Name header value "flaky__hang" does not match body value "flaky__echo"/ },
    { name: "Mcp-Name as a malformed Base64 sentinel", run: () => c().request("tools/call", echo, { headers: { "mcp-name": "=?base64?!!!?=" } }), status: 400, code: -32020 },
    { name: "Mcp-Name Base64-encoded (valid) is decoded", run: () => c().request("tools/call", echo, { headers: { "mcp-name": `=?base64?${Buffer.from("flaky__echo").toString("base64")}?=` } }), status: 200 },
    { name: "no Mcp-Name on resources/read", run: () => c().request("resources/read", { uri: "x://y" }, { headers: { "mcp-name": null } }), status: 400, code: -32020 },
    { name: "_meta version differs from the header", run: () => c().request("tools/list", {}, { meta: { "io.modelcontextprotocol/protocolVersion": "2025-11-25" } }), status: 400, code: -32020, message: /MCP-Protocol-Version header value "2026-07-28" does not match/ },
    { name: "a 2026 body with no MCP-Protocol-Version header", run: () => c().request("tools/list", {}, { headers: { "mcp-protocol-version": null } }), status: 400, code: -32020, message: /MCP-Protocol-Version header is missing/ },
    { name: "a 2026 body under a 2025 header", run: () => c().request("tools/list", {}, { headers: { "mcp-protocol-version": "2025-11-25" } }), status: 400, code: -32020 },
    { name: "an unsupported version", run: () => c().request("tools/list", {}, { headers: { "mcp-protocol-version": "2099-01-01" } }), status: 400, code: -32022 },
    { name: "an unknown method", run: () => c().request("tools/frobnicate"), status: 404, code: -32601 },
    { name: "ping (removed in 2026-07-28)", run: () => c().request("ping"), status: 404, code: -32601 },
    { name: "initialize (removed in 2026-07-28)", run: () => c().request("initialize", { protocolVersion: MODERN, capabilities: {} }), status: 404, code: -32601 },
    { name: "resources/subscribe (replaced by subscriptions/listen)", run: () => c().request("resources/subscribe", { uri: "x://y" }), status: 404, code: -32601 },
    { name: "no protocolVersion in _meta", run: () => c().request("tools/list", {}, { meta: null }), status: 400, code: -32602, message: /protocolVersion"\] is required/ },
    { name: "no clientCapabilities in _meta", run: () => c().request("tools/list", { _meta: { "io.modelcontextprotocol/protocolVersion": MODERN } }, { meta: null }), status: 400, code: -32602, message: /clientCapabilities"\] is required/ },
    { name: "a JSON-RPC batch", run: () => c().post(c().headersFor("tools/list", {}), JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "tools/list" }])), status: 400, code: -32600 },
    { name: "a notification is accepted and ignored", run: () => c().post(c().headersFor("notifications/cancelled", {}), JSON.stringify({ jsonrpc: "2.0", method: "notifications/cancelled", params: { requestId: 1 } })), status: 202 },
  ];
  it.each(cases)("$name", async ({ run, status, code, message }) => {
    const reply = await run();
    expect(reply.status).toBe(status);
    if (code !== undefined) expect(errorOf(reply)).toMatchObject({ code, ...(message ? { message: expect.stringMatching(message) } : {}) });
  });

  it("an unsupported version lists what is supported in data", async () => {
    const reply = await client().request("tools/list", {}, { headers: { "mcp-protocol-version": "2099-01-01" } });
    expect(errorOf(reply).data).toEqual({ supported: ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"], requested: "2099-01-01" });
  });

  it.each(["GET", "DELETE"])("%s with a 2026-07-28 header is 405", async (method) => {
    const response = await fetch(gw.url, { method, headers: { "mcp-protocol-version": MODERN, accept: "text/event-stream" } });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("POST");
  });

  it("refusals and stateless calls are in the audit trail, with the 2026-07-28 protocol version", async () => {
    const marker = `audit-${Date.now()}`;
    await client({ clientInfo: { name: marker, version: "1" } }).request("tools/call", { name: "flaky__echo", arguments: { text: marker } });
    await client().request("tools/call", echo, { headers: { "mcp-name": "flaky__hang" } });
    await gw.gateway.auditLog!.flushNow();
    const all = (await queryAudit(gw.gateway.auditLog!.dir, {}, { limit: 5_000 })).records;
    const call = all.find((r) => r.session?.client?.name === marker);
    expect(call).toMatchObject({ kind: "request", method: "tools/call", session: { protocol_version: "2026-07-28" }, outcome: { status: "ok" } });
    const refused = all.filter((r) => r.kind === "rejected" && r.outcome.code === -32020).at(-1);
    expect(refused).toMatchObject({ outcome: { http_status: 400, message: expect.stringMatching(/Mcp-Name header value "flaky__hang"/) } });
  });

  it("the record is of the answer as sent: its 2026-07-28 dress, remapped codes and size", async () => {
    const marker = `sent-${Date.now()}`;
    const modern = client({ clientInfo: { name: marker, version: "1" } });
    const called = await modern.request("tools/call", { name: "flaky__echo", arguments: { text: marker } });
    const missing = await modern.request("resources/read", { uri: "nowhere://at/all" });
    // 2026-07-28 retired -32002: the client hears -32602, and so does the record.
    expect(errorOf(missing).code).toBe(-32602);
    await gw.gateway.auditLog!.flushNow();
    const mine = (await queryAudit(gw.gateway.auditLog!.dir, {}, { limit: 5_000 })).records.filter((r) => r.session?.client?.name === marker);
    const call = mine.find((r) => r.method === "tools/call")!;
    const read = mine.find((r) => r.method === "resources/read")!;
    expect(call.bytes.out).toBe(Buffer.byteLength(JSON.stringify(called.response)));
    expect(read.outcome).toMatchObject({ status: "error", code: -32602 });
    expect(read.bytes.out).toBe(Buffer.byteLength(JSON.stringify(missing.response)));
  });
});
