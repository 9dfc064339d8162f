/**
 * What MCP 2026-07-28 (stateless) changes above the transport: which methods exist, the request's own `_meta`
 * standing in for a session, `server/discover`, and the envelope every result carries (`resultType`, caching
 * hints, the server's identity). Transport-neutral: the HTTP endpoint uses it; stdio would too.
 */
import { randomUUID } from "node:crypto";
import {
  ErrorCode,
  JsonRpcError,
  LOG_LEVELS,
  META,
  Method,
  ALL_PROTOCOL_VERSIONS,
  asObject,
  isModernVersion,
  type ClientCapabilities,
  type Implementation,
  type JsonObject,
  type JsonRpcResponse,
  type LogLevel,
} from "../protocol/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import { ClientSession } from "../session/index.ts";
import type { Backend } from "../upstream/index.ts";
import { GATEWAY_INFO, mergedCapabilities, mergedInstructions } from "./initialize.ts";

export const ModernMethod = {
  Discover: "server/discover",
  Listen: "subscriptions/listen",
  Acknowledged: "notifications/subscriptions/acknowledged",
} as const;

/** The client requests of 2026-07-28; anything else is 404 + -32601 there (ping, initialize, logging/setLevel, subscribe). */
export const MODERN_METHODS: ReadonlySet<string> = new Set([
  ModernMethod.Discover,
  ModernMethod.Listen,
  Method.ToolsList,
  Method.ToolsCall,
  Method.PromptsList,
  Method.PromptsGet,
  Method.ResourcesList,
  Method.ResourceTemplatesList,
  Method.ResourcesRead,
  Method.CompletionComplete,
]);

/** Methods whose result may be `input_required` (MRTR): the only ones a backend's question can interrupt. */
export const INPUT_METHODS: ReadonlySet<string> = new Set([Method.ToolsCall, Method.PromptsGet, Method.ResourcesRead]);

/** Results that must carry caching hints (2026-07-28 caching page). */
const CACHEABLE: ReadonlySet<string> = new Set([
  ModernMethod.Discover,
  Method.ToolsList,
  Method.PromptsList,
  Method.ResourcesList,
  Method.ResourceTemplatesList,
  Method.ResourcesRead,
]);

/**
 * Freshness of a list: clients re-list sooner when a `subscriptions/listen` stream says it changed, so the TTL
 * only bounds how stale a client without one gets. Discovery changes with deployments, not calls.
 */
export const LIST_TTL_MS = 60_000;
export const DISCOVER_TTL_MS = 300_000;

const SERVER_INFO_META = { [META.serverInfo]: { name: GATEWAY_INFO.name, version: GATEWAY_INFO.version } } as const;

/**
 * The stateless request's stand-in for a session: its identity, version, client info and capabilities come from
 * this request alone (the spec forbids inferring them from earlier ones). Missing required fields are -32602.
 */
export function requestSession(params: JsonObject | undefined, identity: AgentIdentity, replicaId: string): ClientSession {
  const meta = asObject(params?._meta);
  const version = meta?.[META.protocolVersion];
  if (typeof version !== "string") {
    throw new JsonRpcError(ErrorCode.InvalidParams, `Invalid params: _meta["${META.protocolVersion}"] is required`);
  }
  if (!isModernVersion(version)) throw unsupportedVersion(version);
  const capabilities = asObject(meta?.[META.clientCapabilities]);
  if (capabilities === undefined) {
    throw new JsonRpcError(ErrorCode.InvalidParams, `Invalid params: _meta["${META.clientCapabilities}"] is required (an object; {} declares none)`);
  }
  const level = meta?.[META.logLevel];
  if (level !== undefined && !(typeof level === "string" && (LOG_LEVELS as readonly string[]).includes(level))) {
    throw new JsonRpcError(ErrorCode.InvalidParams, `Invalid params: _meta["${META.logLevel}"] must be one of: ${LOG_LEVELS.join(", ")}`);
  }
  const clientInfo = asObject(meta?.[META.clientInfo]) as Implementation | undefined;
  const session = new ClientSession({
    // Internal only (the client never sees it): randomUUID draws from a buffered pool, where newSessionId's
    // randomBytes is a getrandom call on every stateless request.
    id: `stateless:${randomUUID()}`,
    protocolVersion: version,
    identity,
    clientInfo,
    clientCapabilities: capabilities as ClientCapabilities,
    replicaId,
  });
  session.logLevel = level as LogLevel | undefined;
  return session;
}

export function unsupportedVersion(requested: string): JsonRpcError {
  return new JsonRpcError(ErrorCode.UnsupportedProtocolVersion, `Unsupported protocol version: ${requested}`, { supported: [...ALL_PROTOCOL_VERSIONS], requested });
}

export function discoverResult(backends: Iterable<Backend>, cacheScope: CacheScope): JsonObject {
  const list = [...backends];
  const result: JsonObject = {
    resultType: "complete",
    supportedVersions: [...ALL_PROTOCOL_VERSIONS],
    capabilities: mergedCapabilities(list),
    ttlMs: DISCOVER_TTL_MS,
    cacheScope,
    _meta: SERVER_INFO_META,
  };
  const instructions = mergedInstructions(list);
  if (instructions !== undefined) result.instructions = instructions;
  return result;
}

/**
 * private: the answer depends on who asked (a policy filters lists per agent, or a backend personalizes a read).
 * public: any caller gets the same bytes.
 */
export type CacheScope = "public" | "private";

/**
 * A legacy-shaped answer in 2026-07-28 dress: `resultType`, caching hints where the method needs them (a
 * backend's own hints on a read win), the server's identity, and the error codes 2026-07-28 retired remapped.
 */
export function modernResponse(method: string, response: JsonRpcResponse, listScope: CacheScope): JsonRpcResponse {
  if ("error" in response) {
    const { code } = response.error;
    if (code === ErrorCode.ResourceNotFound) return { ...response, error: { ...response.error, code: ErrorCode.InvalidParams } };
    if (code === ErrorCode.UrlElicitationRequired) {
      return { ...response, error: { ...response.error, code: ErrorCode.InternalError, message: `${response.error.message} (the server needs a URL elicitation, which gatehouse does not bridge to 2026-07-28 yet)` } };
    }
    return response;
  }
  const result = response.result;
  if (result.resultType === "input_required") return response;
  const meta = asObject(result._meta);
  const dressed: JsonObject = { ...result, resultType: "complete", _meta: meta === undefined ? SERVER_INFO_META : { ...meta, ...SERVER_INFO_META } };
  if (method === Method.ResourcesRead) {
    // A 2026 backend's own hints stand, except that a policy deciding per agent makes every answer private.
    if (!(typeof result.ttlMs === "number" && result.ttlMs >= 0)) dressed.ttlMs = 0;
    if (listScope === "private" || result.cacheScope !== "public") dressed.cacheScope = "private";
  } else if (CACHEABLE.has(method)) {
    dressed.ttlMs = LIST_TTL_MS;
    dressed.cacheScope = listScope;
  }
  return { ...response, result: dressed };
}
