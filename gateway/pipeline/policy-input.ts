/**
 * The policy input document, version 1 (policies/README.md is its reference). Built here because only the
 * pipeline sees identity, session, route and arguments together. The WASM SDK has no clock, so time is passed in.
 */
import { decodeHeaderValue, headerValuesOf, type HeaderParam, type JsonObject } from "../protocol/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { ClientSession } from "../session/index.ts";
import type { ToolRoute } from "../routing/index.ts";
import { GATEWAY_INFO } from "./initialize.ts";

export interface PolicyRequest {
  method: string;
  server: string;
  tool?: string;
  uri?: string;
  prompt?: string;
  arguments?: JsonObject;
  /**
   * tools/call of a tool with x-mcp-header annotations: header name → value, exactly what a 2026-07-28 client
   * mirrors into `Mcp-Param-<name>` (and the gateway has checked against the body), for any client's call.
   */
  mcpParams?: Record<string, string>;
}

export interface PolicyInput {
  version: 1;
  /** The verified identity, less its expiry (policies see time in `time`). */
  identity: Omit<AgentIdentity, "expiresAt">;
  request: PolicyRequest;
  tool?: { annotations: Record<string, unknown>; hash: string };
  session: { id: string; clientInfo: { name?: string; version?: string }; protocolVersion: string };
  time: { now_ns: number; rfc3339: string };
  gateway: { version: string; replica: string };
}

/** One object per verified identity, so what is derived from it downstream (the audit's masked copy) is cached too. */
const inputIdentities = new WeakMap<AgentIdentity, PolicyInput["identity"]>();

function identityOf(identity: AgentIdentity): PolicyInput["identity"] {
  let view = inputIdentities.get(identity);
  if (view === undefined) {
    const { expiresAt: _expiresAt, ...rest } = identity;
    view = Object.freeze(rest);
    inputIdentities.set(identity, view);
  }
  return view;
}

export function policyInput(session: ClientSession, request: PolicyRequest, replica: string, tool?: ToolRoute, now = Date.now()): PolicyInput {
  // Keys in canonical (sorted) order: the audit record keeps this input, and canonicalJson then hashes it as it is.
  return {
    gateway: { replica, version: GATEWAY_INFO.version },
    identity: identityOf(session.identity),
    request,
    session: {
      clientInfo: { name: session.clientInfo?.name, version: session.clientInfo?.version },
      id: session.id,
      protocolVersion: session.protocolVersion,
    },
    // now_ns loses sub-millisecond precision as a JSON number, which policies comparing times do not need.
    time: { now_ns: now * 1_000_000, rfc3339: new Date(now).toISOString() },
    // Absent, not undefined, without a tool: a policy's `redact: ["/tool"]` must find nothing to redact then.
    ...(tool === undefined ? {} : { tool: { annotations: (tool.definition.annotations ?? {}) as Record<string, unknown>, hash: tool.hash } }),
    version: 1,
  };
}

/** The decoded `Mcp-Param-*` values a call's arguments give, keyed by the annotation's header name. */
export function mcpParamsOf(params: readonly HeaderParam[], args: unknown): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, encoded] of headerValuesOf(params, args)) {
    const decoded = decodeHeaderValue(encoded);
    if (decoded.ok) values[name] = decoded.value;
  }
  return values;
}
