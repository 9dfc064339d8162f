import { describe, expect, it } from "vitest";
import type { JsonObject, JsonRpcId, JsonRpcMessage } from "../protocol/index.ts";
import { ClientSession, type OutboundChannel } from "../session/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import { Listeners, listenChannel, parseListenFilter, type ListenFilter } from "./listeners.ts";

const SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId";

const identity: AgentIdentity = { agentId: "agent-1", issuer: "corp", subject: "agent-1", scopes: [], claims: {}, expiresAt: 4_000_000_000 };

class Sink implements OutboundChannel {
  readonly sent: JsonRpcMessage[] = [];
  closed = 0;
  accepting = true;
  send(message: JsonRpcMessage): boolean {
    if (!this.accepting) return false;
    this.sent.push(message);
    return true;
  }
  close(): void {
    this.closed++;
  }
}

const note = (method: string, params?: JsonObject): JsonRpcMessage => (params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params });

describe("parseListenFilter", () => {
  it.each<{ name: string; params: JsonObject | undefined; expected: ListenFilter | RegExp }>([
    { name: "every flag on", params: { notifications: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true } }, expected: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true } },
    { name: "one flag on", params: { notifications: { toolsListChanged: true } }, expected: { toolsListChanged: true } },
    { name: "false flags are dropped", params: { notifications: { toolsListChanged: false, promptsListChanged: true, resourcesListChanged: false } }, expected: { promptsListChanged: true } },
    { name: "an empty filter subscribes to nothing", params: { notifications: {} }, expected: {} },
    { name: "unknown fields (an extension's) are not honoured", params: { notifications: { toolsListChanged: true, taskIds: ["t1"] } }, expected: { toolsListChanged: true } },
    { name: "a non-boolean flag", params: { notifications: { toolsListChanged: "yes" } }, expected: /notifications\.toolsListChanged must be a boolean/ },
    { name: "a null flag", params: { notifications: { resourcesListChanged: null } }, expected: /notifications\.resourcesListChanged must be a boolean/ },
    { name: "a numeric flag", params: { notifications: { promptsListChanged: 1 } }, expected: /notifications\.promptsListChanged must be a boolean/ },
    { name: "resource subscriptions", params: { notifications: { resourceSubscriptions: ["file:///a", "file:///b"] } }, expected: { resourceSubscriptions: ["file:///a", "file:///b"] } },
    { name: "duplicate URIs are deduped, first order kept", params: { notifications: { resourceSubscriptions: ["file:///b", "file:///a", "file:///b"] } }, expected: { resourceSubscriptions: ["file:///b", "file:///a"] } },
    { name: "an empty URI list is omitted", params: { notifications: { toolsListChanged: true, resourceSubscriptions: [] } }, expected: { toolsListChanged: true } },
    { name: "resourceSubscriptions not an array", params: { notifications: { resourceSubscriptions: "file:///a" } }, expected: /resourceSubscriptions must be an array of URI strings/ },
    { name: "resourceSubscriptions as an object", params: { notifications: { resourceSubscriptions: { 0: "file:///a" } } }, expected: /resourceSubscriptions must be an array of URI strings/ },
    { name: "resourceSubscriptions with a non-string", params: { notifications: { resourceSubscriptions: ["file:///a", 7] } }, expected: /resourceSubscriptions must be an array of URI strings/ },
    { name: "no params", params: undefined, expected: /needs params\.notifications/ },
    { name: "params without notifications", params: { _meta: {} }, expected: /needs params\.notifications/ },
    { name: "notifications not an object", params: { notifications: true }, expected: /needs params\.notifications/ },
    { name: "notifications an array", params: { notifications: [] }, expected: /needs params\.notifications/ },
  ])("$name", ({ params, expected }) => {
    const filter = parseListenFilter(params);
    if (expected instanceof RegExp) {
      expect(typeof filter).toBe("string");
      expect(filter).toMatch(expected);
    } else {
      expect(filter).toStrictEqual(expected);
    }
  });

  it("does not alias the request's URI array", () => {
    const uris = ["file:///a"];
    const filter = parseListenFilter({ notifications: { resourceSubscriptions: uris } });
    if (typeof filter === "string") throw new Error(filter);
    uris.push("file:///b");
    expect(filter.resourceSubscriptions).toEqual(["file:///a"]);
  });
});

describe("listenChannel", () => {
  const cases: Array<{ name: string; filter: ListenFilter; message: JsonRpcMessage; passes: boolean }> = [
    { name: "tools list_changed, opted in", filter: { toolsListChanged: true }, message: note("notifications/tools/list_changed"), passes: true },
    { name: "tools list_changed, not opted in", filter: { promptsListChanged: true, resourcesListChanged: true }, message: note("notifications/tools/list_changed"), passes: false },
    { name: "prompts list_changed, opted in", filter: { promptsListChanged: true }, message: note("notifications/prompts/list_changed"), passes: true },
    { name: "prompts list_changed, not opted in", filter: { toolsListChanged: true }, message: note("notifications/prompts/list_changed"), passes: false },
    { name: "resources list_changed, opted in", filter: { resourcesListChanged: true }, message: note("notifications/resources/list_changed"), passes: true },
    { name: "resources list_changed, not opted in", filter: {}, message: note("notifications/resources/list_changed"), passes: false },
    { name: "resources/updated, always (routing picks the listeners)", filter: {}, message: note("notifications/resources/updated", { uri: "file:///a" }), passes: true },
    { name: "a log message (request-scoped, never on a listen stream)", filter: { toolsListChanged: true }, message: note("notifications/message", { level: "info", data: "x" }), passes: false },
    { name: "progress (request-scoped)", filter: { toolsListChanged: true }, message: note("notifications/progress", { progressToken: 1, progress: 1 }), passes: false },
    { name: "a request", filter: { toolsListChanged: true, promptsListChanged: true, resourcesListChanged: true }, message: { jsonrpc: "2.0", id: 5, method: "notifications/tools/list_changed" }, passes: false },
    { name: "a server-to-client request", filter: { toolsListChanged: true }, message: { jsonrpc: "2.0", id: "g:1", method: "sampling/createMessage", params: {} }, passes: false },
    { name: "a success response", filter: { toolsListChanged: true }, message: { jsonrpc: "2.0", id: 1, result: {} }, passes: false },
    { name: "an error response", filter: { toolsListChanged: true }, message: { jsonrpc: "2.0", id: 1, error: { code: -32603, message: "x" } }, passes: false },
  ];
  it.each(cases)("$name", ({ filter, message, passes }) => {
    const sink = new Sink();
    const channel = listenChannel(9, filter, sink);
    expect(channel.send(message)).toBe(passes);
    expect(sink.sent).toHaveLength(passes ? 1 : 0);
    if (passes) {
      const sent = sink.sent[0] as { method: string; params: JsonObject };
      expect(sent.method).toBe((message as { method: string }).method);
      expect(sent.params._meta).toEqual({ [SUBSCRIPTION_ID]: 9 });
    }
  });

  it.each<{ name: string; id: JsonRpcId }>([
    { name: "a numeric id", id: 1 },
    { name: "a string id", id: "listen-1" },
  ])("tags with the listen request's id ($name), keeping params and existing _meta keys, without touching the original", ({ id }) => {
    const sink = new Sink();
    const original = note("notifications/resources/updated", { uri: "file:///a", _meta: { "example.com/trace": "t1", progressToken: 3 } });
    const snapshot = structuredClone(original);
    expect(listenChannel(id, {}, sink).send(original)).toBe(true);
    expect(sink.sent).toEqual([
      { jsonrpc: "2.0", method: "notifications/resources/updated", params: { uri: "file:///a", _meta: { "example.com/trace": "t1", progressToken: 3, [SUBSCRIPTION_ID]: id } } },
    ]);
    // The same message object is broadcast to every listener: each gets its own tag.
    expect(original).toEqual(snapshot);
  });

  it("one message through two channels carries each channel's own subscription id", () => {
    const [a, b] = [new Sink(), new Sink()];
    const message = note("notifications/tools/list_changed");
    listenChannel(1, { toolsListChanged: true }, a).send(message);
    listenChannel(2, { toolsListChanged: true }, b).send(message);
    expect((a.sent[0] as { params: JsonObject }).params._meta).toEqual({ [SUBSCRIPTION_ID]: 1 });
    expect((b.sent[0] as { params: JsonObject }).params._meta).toEqual({ [SUBSCRIPTION_ID]: 2 });
    expect(message).toEqual({ jsonrpc: "2.0", method: "notifications/tools/list_changed" });
  });

  it("a message without params gets params with only the tag", () => {
    const sink = new Sink();
    listenChannel(4, { promptsListChanged: true }, sink).send(note("notifications/prompts/list_changed"));
    expect(sink.sent).toEqual([{ jsonrpc: "2.0", method: "notifications/prompts/list_changed", params: { _meta: { [SUBSCRIPTION_ID]: 4 } } }]);
  });

  it("a non-object _meta is replaced by the tag", () => {
    const sink = new Sink();
    listenChannel(4, {}, sink).send(note("notifications/resources/updated", { uri: "file:///a", _meta: "junk" }));
    expect((sink.sent[0] as { params: JsonObject }).params).toEqual({ uri: "file:///a", _meta: { [SUBSCRIPTION_ID]: 4 } });
  });

  it("reports the sink's failure to deliver", () => {
    const sink = new Sink();
    sink.accepting = false;
    expect(listenChannel(1, { toolsListChanged: true }, sink).send(note("notifications/tools/list_changed"))).toBe(false);
  });

  it("close forwards to the sink", () => {
    const sink = new Sink();
    const channel = listenChannel(1, {}, sink);
    expect(sink.closed).toBe(0);
    channel.close();
    expect(sink.closed).toBe(1);
  });
});

describe("Listeners", () => {
  function listener(id: string, filter: ListenFilter, subscriptionId: JsonRpcId): { session: ClientSession; sink: Sink } {
    const session = new ClientSession({ id, protocolVersion: "2026-07-28", identity });
    const sink = new Sink();
    expect(session.attachStandalone(listenChannel(subscriptionId, filter, sink))).toBe(true);
    return { session, sink };
  }

  it("add, get, size, all and delete by the session's id", () => {
    const listeners = new Listeners();
    const a = listener("stateless:a", {}, 1);
    const b = listener("stateless:b", {}, 2);
    expect(listeners.size).toBe(0);
    expect(listeners.get("stateless:a")).toBeUndefined();
    listeners.add(a.session);
    listeners.add(b.session);
    listeners.add(a.session); // twice is still one
    expect(listeners.size).toBe(2);
    expect(listeners.get("stateless:a")).toBe(a.session);
    expect(listeners.get("stateless:b")).toBe(b.session);
    expect([...listeners.all()]).toEqual([a.session, b.session]);
    expect(listeners.delete(a.session)).toBe(true);
    expect(listeners.delete(a.session)).toBe(false);
    expect(listeners.get("stateless:a")).toBeUndefined();
    expect(listeners.size).toBe(1);
  });

  it("broadcast reaches every open stream, each filtering and tagging for itself", () => {
    const listeners = new Listeners();
    const tools = listener("stateless:t", { toolsListChanged: true }, "t-sub");
    const prompts = listener("stateless:p", { promptsListChanged: true }, "p-sub");
    const both = listener("stateless:b", { toolsListChanged: true, promptsListChanged: true }, 3);
    for (const l of [tools, prompts, both]) listeners.add(l.session);

    listeners.broadcast(note("notifications/tools/list_changed"));
    listeners.broadcast(note("notifications/prompts/list_changed"));
    listeners.broadcast(note("notifications/resources/list_changed"));

    const seen = (sink: Sink) => sink.sent.map((m) => [(m as { method: string }).method, ((m as { params: JsonObject }).params._meta as JsonObject)[SUBSCRIPTION_ID]]);
    expect(seen(tools.sink)).toEqual([["notifications/tools/list_changed", "t-sub"]]);
    expect(seen(prompts.sink)).toEqual([["notifications/prompts/list_changed", "p-sub"]]);
    expect(seen(both.sink)).toEqual([
      ["notifications/tools/list_changed", 3],
      ["notifications/prompts/list_changed", 3],
    ]);
  });

  it("broadcast skips a stream that was deleted", () => {
    const listeners = new Listeners();
    const a = listener("stateless:a", { toolsListChanged: true }, 1);
    listeners.add(a.session);
    listeners.delete(a.session);
    listeners.broadcast(note("notifications/tools/list_changed"));
    expect(a.sink.sent).toEqual([]);
  });

  it("closeAll closes every session and its stream, and empties the set", () => {
    const listeners = new Listeners();
    const a = listener("stateless:a", { toolsListChanged: true }, 1);
    const b = listener("stateless:b", {}, 2);
    listeners.add(a.session);
    listeners.add(b.session);
    listeners.closeAll();
    expect(listeners.size).toBe(0);
    expect(a.session.isClosed).toBe(true);
    expect(b.session.isClosed).toBe(true);
    expect(a.sink.closed).toBe(1);
    expect(b.sink.closed).toBe(1);
    listeners.broadcast(note("notifications/tools/list_changed"));
    expect(a.sink.sent).toEqual([]);
  });
});
