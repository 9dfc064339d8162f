/** The gateway's answer to initialize: its own identity, and capabilities merged from the backends. */
import {
  ErrorCode,
  JsonRpcError,
  negotiateVersion,
  type ClientCapabilities,
  type Implementation,
  type JsonObject,
  type ProtocolVersion,
  type ServerCapabilities,
} from "../protocol/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import { ClientSession } from "../session/index.ts";
import type { Backend } from "../upstream/index.ts";

export const GATEWAY_INFO = { name: "gatehouse", title: "Gatehouse MCP gateway", version: "0.1.0" } as const;

/**
 * tools, prompts and resources are always offered with listChanged: a backend that is down now may come up later,
 * and the gateway tells clients when the merged lists change. The rest is offered when any backend offers it.
 */
export function mergedCapabilities(backends: Iterable<Backend>): ServerCapabilities {
  let subscribe = false;
  let completions = false;
  for (const backend of backends) {
    subscribe ||= backend.capabilities?.resources?.subscribe === true;
    completions ||= backend.capabilities?.completions !== undefined;
  }
  const capabilities: ServerCapabilities = {
    tools: { listChanged: true },
    prompts: { listChanged: true },
    resources: { listChanged: true, ...(subscribe ? { subscribe: true } : {}) },
    logging: {},
  };
  if (completions) capabilities.completions = {};
  return capabilities;
}

/** Each backend's instructions under its name; undefined when none has any. */
export function mergedInstructions(backends: readonly Backend[]): string | undefined {
  const instructions = backends
    .filter((b) => typeof b.instructions === "string" && b.instructions.length > 0)
    .map((b) => `## ${b.name}\n${b.instructions}`)
    .join("\n\n");
  return instructions.length > 0 ? instructions : undefined;
}

export function initializeResult(requestedVersion: unknown, backends: Iterable<Backend>): { version: ProtocolVersion; result: JsonObject } {
  const version = negotiateVersion(requestedVersion);
  const list = [...backends];
  const result: JsonObject = {
    protocolVersion: version,
    capabilities: mergedCapabilities(list),
    serverInfo: GATEWAY_INFO,
  };
  const instructions = mergedInstructions(list);
  if (instructions !== undefined) result.instructions = instructions;
  return { version, result };
}

/**
 * initialize, for every transport: checks the params, negotiates the version and creates the session bound to
 * `identity`. The caller stores the session and sends `result`. Throws -32602 for malformed params.
 */
export function startSession(
  params: JsonObject | undefined,
  identity: AgentIdentity,
  backends: Iterable<Backend>,
  replicaId?: string,
): { session: ClientSession; result: JsonObject } {
  const capabilities = params?.capabilities;
  if (params === undefined || typeof params.protocolVersion !== "string" || typeof capabilities !== "object" || capabilities === null || Array.isArray(capabilities)) {
    throw new JsonRpcError(ErrorCode.InvalidParams, "initialize needs params.protocolVersion (a string) and params.capabilities (an object)");
  }
  const { version, result } = initializeResult(params.protocolVersion, backends);
  const session = new ClientSession({
    protocolVersion: version,
    identity,
    clientInfo: params.clientInfo as Implementation | undefined,
    clientCapabilities: capabilities as ClientCapabilities,
    ...(replicaId === undefined ? {} : { replicaId }),
  });
  return { session, result };
}
