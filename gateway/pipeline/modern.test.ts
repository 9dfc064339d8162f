import { describe, expect, it } from "vitest";
import { ErrorCode, JsonRpcError, failure, success, type JsonObject, type JsonRpcResponse } from "../protocol/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { Backend } from "../upstream/index.ts";
import { principalOf } from "../session/index.ts";
import { DISCOVER_TTL_MS, LIST_TTL_MS, discoverResult, modernResponse, requestSession, unsupportedVersion, type CacheScope } from "./modern.ts";
import { thrown } from "./testing.ts";

const PV = "io.modelcontextprotocol/protocolVersion";
const CI = "io.modelcontextprotocol/clientInfo";
const CC = "io.modelcontextprotocol/clientCapabilities";
const LL = "io.modelcontextprotocol/logLevel";
const SI = "io.modelcontextprotocol/serverInfo";
const SERVER_INFO = { name: "gatehouse", version: "0.1.0" };
const ALL_VERSIONS = ["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"];

const identity: AgentIdentity = { agentId: "agent-1", issuer: "corp", subject: "agent-1", scopes: ["mcp"], claims: {}, expiresAt: 4_000_000_000 };

const meta = (fields: JsonObject): JsonObject => ({ _meta: fields });
const VALID = { [PV]: "2026-07-28", [CC]: {} };


describe("requestSession", () => {
  it.each<{ name: string; params: JsonObject | undefined; code: number; message?: RegExp; data?: unknown }>([
    { name: "no params", params: undefined, code: ErrorCode.InvalidParams, message: /protocolVersion/ },
    { name: "no _meta", params: { name: "x" }, code: ErrorCode.InvalidParams, message: /protocolVersion/ },
    { name: "_meta not an object", params: { _meta: "2026-07-28" }, code: ErrorCode.InvalidParams, message: /protocolVersion/ },
    { name: "missing protocolVersion", params: meta({ [CC]: {} }), code: ErrorCode.InvalidParams, message: /protocolVersion"\] is required/ },
    { name: "non-string protocolVersion", params: meta({ [PV]: 20260728, [CC]: {} }), code: ErrorCode.InvalidParams, message: /protocolVersion/ },
    { name: "a 2025 version in _meta", params: meta({ [PV]: "2025-11-25", [CC]: {} }), code: ErrorCode.UnsupportedProtocolVersion, data: { supported: ALL_VERSIONS, requested: "2025-11-25" } },
    { name: "an unknown version", params: meta({ [PV]: "2099-01-01", [CC]: {} }), code: ErrorCode.UnsupportedProtocolVersion, data: { supported: ALL_VERSIONS, requested: "2099-01-01" } },
    { name: "an unsupported version is reported before missing capabilities", params: meta({ [PV]: "1.0" }), code: ErrorCode.UnsupportedProtocolVersion, data: { supported: ALL_VERSIONS, requested: "1.0" } },
    { name: "missing clientCapabilities", params: meta({ [PV]: "2026-07-28" }), code: ErrorCode.InvalidParams, message: /clientCapabilities"\] is required/ },
    { name: "clientCapabilities an array", params: meta({ [PV]: "2026-07-28", [CC]: [] }), code: ErrorCode.InvalidParams, message: /clientCapabilities/ },
    { name: "clientCapabilities null", params: meta({ [PV]: "2026-07-28", [CC]: null }), code: ErrorCode.InvalidParams, message: /clientCapabilities/ },
    { name: "an unknown logLevel", params: meta({ ...VALID, [LL]: "verbose" }), code: ErrorCode.InvalidParams, message: /logLevel"\] must be one of: debug, info/ },
    { name: "a logLevel of the wrong case", params: meta({ ...VALID, [LL]: "INFO" }), code: ErrorCode.InvalidParams, message: /logLevel/ },
    { name: "a numeric logLevel", params: meta({ ...VALID, [LL]: 3 }), code: ErrorCode.InvalidParams, message: /logLevel/ },
  ])("$name", ({ params, code, message, data }) => {
    const error = thrown(() => requestSession(params, identity, "r1"));
    expect(error.code).toBe(code);
    if (message !== undefined) expect(error.message).toMatch(message);
    if (data !== undefined) expect(error.data).toEqual(data);
  });

  it("a valid _meta makes a stateless session with the request's own client info, capabilities and log level", () => {
    const clientInfo = { name: "client", version: "2.0" };
    const capabilities = { sampling: {}, elicitation: { form: {} } };
    const session = requestSession(meta({ [PV]: "2026-07-28", [CI]: clientInfo, [CC]: capabilities, [LL]: "warning" }), identity, "replica-7");
    expect(session.id).toMatch(/^stateless:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(session.protocolVersion).toBe("2026-07-28");
    expect(session.clientInfo).toEqual(clientInfo);
    expect(session.clientCapabilities).toEqual(capabilities);
    expect(session.logLevel).toBe("warning");
    expect(session.replicaId).toBe("replica-7");
    expect(session.identity).toBe(identity);
    expect(session.principal).toBe(principalOf(identity));
    expect(session.inputBroker).toBeUndefined();
  });

  it("optional fields stay unset, and every request gets its own session", () => {
    const a = requestSession(meta(VALID), identity, "r1");
    const b = requestSession(meta(VALID), identity, "r1");
    expect(a.clientInfo).toBeUndefined();
    expect(a.logLevel).toBeUndefined();
    expect(a.clientCapabilities).toEqual({});
    expect(a.id).toMatch(/^stateless:/);
    expect(a.id).not.toBe(b.id);
  });

  it("a clientInfo that is not an object is ignored", () => {
    expect(requestSession(meta({ ...VALID, [CI]: "client/2.0" }), identity, "r1").clientInfo).toBeUndefined();
  });

  it.each(["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"])("accepts logLevel %s", (level) => {
    expect(requestSession(meta({ ...VALID, [LL]: level }), identity, "r1").logLevel).toBe(level);
  });
});

describe("unsupportedVersion", () => {
  it("is -32022 with the supported list, newest first, and what was asked", () => {
    expect(unsupportedVersion("x").toJSON()).toEqual({ code: -32022, message: "Unsupported protocol version: x", data: { supported: ALL_VERSIONS, requested: "x" } });
  });
});

describe("modernResponse", () => {
  const err = (code: number, message = "boom", data?: unknown): JsonRpcResponse => failure(1, data === undefined ? { code, message } : { code, message, data });

  it.each<{ name: string; method: string; response: JsonRpcResponse; expected: JsonRpcResponse }>([
    { name: "-32002 (retired) becomes -32602", method: "resources/read", response: err(-32002, "Resource not found", { uri: "file:///x" }), expected: err(-32602, "Resource not found", { uri: "file:///x" }) },
    {
      name: "-32042 (retired) becomes -32603 saying why",
      method: "tools/call",
      response: err(-32042, "needs a URL elicitation", { elicitations: [] }),
      expected: err(-32603, "needs a URL elicitation (the server needs a URL elicitation, which gatehouse does not bridge to 2026-07-28 yet)", { elicitations: [] }),
    },
    { name: "other errors are untouched (-32602)", method: "tools/call", response: err(-32602), expected: err(-32602) },
    { name: "other errors are untouched (policy)", method: "tools/list", response: err(-31020, "denied", { reason: "r" }), expected: err(-31020, "denied", { reason: "r" }) },
    { name: "other errors are untouched (-32021)", method: "tools/call", response: err(-32021, "cap", { requiredCapabilities: { sampling: {} } }), expected: err(-32021, "cap", { requiredCapabilities: { sampling: {} } }) },
  ])("error: $name", ({ method, response, expected }) => {
    expect(modernResponse(method, response, "public")).toEqual(expected);
  });

  it("an input_required result is returned as it is, with no caching hints or server info", () => {
    const response = success(3, { resultType: "input_required", inputRequests: { k: { method: "roots/list" } }, requestState: "s" });
    const copy = structuredClone(response);
    for (const method of ["tools/call", "resources/read", "prompts/get"]) {
      const dressed = modernResponse(method, response, "public");
      expect(dressed).toEqual(copy);
      expect(dressed).toBe(response);
    }
  });

  it.each<{ method: string; scope: CacheScope }>([
    { method: "tools/list", scope: "public" },
    { method: "tools/list", scope: "private" },
    { method: "prompts/list", scope: "public" },
    { method: "resources/list", scope: "private" },
    { method: "resources/templates/list", scope: "public" },
  ])("$method ($scope): resultType complete, the list TTL, the given scope and server info", ({ method, scope }) => {
    const response = success(5, { items: [{ name: "a" }], nextCursor: "c2", ttlMs: 5, cacheScope: scope === "public" ? "private" : "public" });
    const dressed = modernResponse(method, response, scope);
    expect(dressed).toEqual(success(5, { items: [{ name: "a" }], nextCursor: "c2", resultType: "complete", ttlMs: LIST_TTL_MS, cacheScope: scope, _meta: { [SI]: SERVER_INFO } }));
    expect(LIST_TTL_MS).toBe(60_000);
  });

  it("merges server info into an existing _meta without dropping its keys, and does not change the input", () => {
    const response = success(1, { tools: [], _meta: { "example.com/k": 1, progressToken: "p" } });
    const copy = structuredClone(response);
    const dressed = modernResponse("tools/list", response, "public");
    expect(dressed).toEqual(success(1, { tools: [], resultType: "complete", ttlMs: 60_000, cacheScope: "public", _meta: { "example.com/k": 1, progressToken: "p", [SI]: SERVER_INFO } }));
    expect(response).toEqual(copy);
  });

  it.each<{ name: string; result: JsonObject; scope: CacheScope; ttlMs: number; cacheScope: CacheScope }>([
    { name: "backend hints kept when both are public", result: { contents: [], ttlMs: 30_000, cacheScope: "public" }, scope: "public", ttlMs: 30_000, cacheScope: "public" },
    { name: "a private list scope makes a public read private", result: { contents: [], ttlMs: 30_000, cacheScope: "public" }, scope: "private", ttlMs: 30_000, cacheScope: "private" },
    { name: "a backend's private stays private", result: { contents: [], ttlMs: 10, cacheScope: "private" }, scope: "public", ttlMs: 10, cacheScope: "private" },
    { name: "no backend scope is private", result: { contents: [], ttlMs: 10 }, scope: "public", ttlMs: 10, cacheScope: "private" },
    { name: "an unknown backend scope is private", result: { contents: [], ttlMs: 10, cacheScope: "shared" }, scope: "public", ttlMs: 10, cacheScope: "private" },
    { name: "no backend TTL is 0", result: { contents: [], cacheScope: "public" }, scope: "public", ttlMs: 0, cacheScope: "public" },
    { name: "a backend TTL of 0 is kept", result: { contents: [], ttlMs: 0, cacheScope: "public" }, scope: "public", ttlMs: 0, cacheScope: "public" },
    { name: "a negative backend TTL is 0", result: { contents: [], ttlMs: -5, cacheScope: "public" }, scope: "public", ttlMs: 0, cacheScope: "public" },
    { name: "a non-numeric backend TTL is 0", result: { contents: [], ttlMs: "60000" }, scope: "public", ttlMs: 0, cacheScope: "private" },
    { name: "a legacy backend with no hints at all", result: { contents: [{ uri: "file:///a", text: "x" }] }, scope: "private", ttlMs: 0, cacheScope: "private" },
  ])("resources/read: $name", ({ result, scope, ttlMs, cacheScope }) => {
    const dressed = modernResponse("resources/read", success(2, result), scope);
    if (!("result" in dressed)) throw new Error("expected a result");
    expect(dressed.id).toBe(2);
    expect(dressed.result.resultType).toBe("complete");
    expect(dressed.result.ttlMs).toBe(ttlMs);
    expect(dressed.result.cacheScope).toBe(cacheScope);
    expect(dressed.result.contents).toEqual(result.contents);
    expect(dressed.result._meta).toEqual({ [SI]: SERVER_INFO });
  });

  it.each(["tools/call", "prompts/get", "completion/complete"])("%s: resultType and server info, no caching hints", (method) => {
    const result = { content: [{ type: "text", text: "ok" }], _meta: { "example.com/k": true } };
    const dressed = modernResponse(method, success(4, result), "public");
    expect(dressed).toEqual(success(4, { content: [{ type: "text", text: "ok" }], resultType: "complete", _meta: { "example.com/k": true, [SI]: SERVER_INFO } }));
    if (!("result" in dressed)) throw new Error("expected a result");
    expect("ttlMs" in dressed.result).toBe(false);
    expect("cacheScope" in dressed.result).toBe(false);
  });

  it("a backend's own resultType complete stays complete", () => {
    const dressed = modernResponse("tools/call", success(1, { resultType: "complete", content: [] }), "private");
    expect(dressed).toEqual(success(1, { resultType: "complete", content: [], _meta: { [SI]: SERVER_INFO } }));
  });
});

describe("discoverResult", () => {
  const backend = (name: string, capabilities: JsonObject | undefined, instructions?: string): Backend => ({ name, capabilities, instructions }) as unknown as Backend;

  it.each<{ scope: CacheScope }>([{ scope: "public" }, { scope: "private" }])("lists 2026-07-28 first and the 2025 versions, with the discover TTL and scope $scope", ({ scope }) => {
    const result = discoverResult([backend("notes", { tools: {} })], scope);
    expect(result.resultType).toBe("complete");
    expect(result.supportedVersions).toEqual(ALL_VERSIONS);
    expect((result.supportedVersions as string[])[0]).toBe("2026-07-28");
    expect(result.ttlMs).toBe(DISCOVER_TTL_MS);
    expect(DISCOVER_TTL_MS).toBe(300_000);
    expect(result.cacheScope).toBe(scope);
    expect(result._meta).toEqual({ [SI]: SERVER_INFO });
    expect("instructions" in result).toBe(false);
  });

  it.each<{ name: string; backends: Backend[]; capabilities: JsonObject }>([
    { name: "no backends", backends: [], capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true }, logging: {} } },
    {
      name: "a backend with resource subscriptions",
      backends: [backend("a", { resources: { subscribe: true } }), backend("b", undefined)],
      capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true, subscribe: true }, logging: {} },
    },
    {
      name: "a backend with completions",
      backends: [backend("a", { tools: {} }), backend("b", { completions: {} })],
      capabilities: { tools: { listChanged: true }, prompts: { listChanged: true }, resources: { listChanged: true }, logging: {}, completions: {} },
    },
  ])("capabilities merged from the backends: $name", ({ backends, capabilities }) => {
    expect(discoverResult(backends, "public").capabilities).toEqual(capabilities);
  });

  it("instructions only when a backend has some, each under its backend's name", () => {
    expect("instructions" in discoverResult([backend("a", {}, ""), backend("b", {})], "public")).toBe(false);
    const result = discoverResult([backend("notes", {}, "Write notes."), backend("quiet", {}), backend("files", {}, "Read files.")], "public");
    expect(result.instructions).toBe("## notes\nWrite notes.\n\n## files\nRead files.");
  });

  it("accepts any iterable of backends (a map's values)", () => {
    const map = new Map([["notes", backend("notes", { completions: {} }, "Hi.")]]);
    const result = discoverResult(map.values(), "private");
    expect(result.capabilities).toMatchObject({ completions: {} });
    expect(result.instructions).toBe("## notes\nHi.");
  });
});
