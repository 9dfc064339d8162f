import type { JsonRpcErrorObject } from "./jsonrpc.ts";

/**
 * JSON-RPC error codes. The first block is JSON-RPC 2.0 and MCP; the second is the gateway's own and stable:
 * clients and dashboards key on them. MCP 2026-07-28 reserves -32020..-32099 for the specification and closes
 * -32000..-32019 to new allocations, so the gateway's codes added since live at -31xxx (outside JSON-RPC's
 * reserved range); the older -320xx ones keep their meaning.
 */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** MCP: resources/read of a URI no server owns. */
  ResourceNotFound: -32002,
  /** MCP: the server needs a URL-mode elicitation first. Passed through untouched. */
  UrlElicitationRequired: -32042,
  /** MCP 2026-07-28: Mcp-Method, Mcp-Name, Mcp-Param-* or MCP-Protocol-Version missing, malformed, or not the body's. */
  HeaderMismatch: -32020,
  /** MCP 2026-07-28: the request needs a client capability its `_meta` did not declare. */
  MissingRequiredClientCapability: -32021,
  /** MCP 2026-07-28: the requested protocol version is not one this gateway speaks; `data: {supported, requested}`. */
  UnsupportedProtocolVersion: -32022,

  /** The backend connection closed before it answered (crash, restart, shutdown). */
  BackendClosed: -32000,
  /** The backend did not answer within the per-call timeout. */
  BackendTimeout: -32001,
  /** The owning backend is down or restarting; other servers keep working. */
  BackendUnavailable: -32010,
  /** The call was cancelled by the client before the backend answered. */
  Cancelled: -32011,
  /** The gateway is draining for shutdown and takes no new calls. */
  ShuttingDown: -32012,
  /** Shared state (Redis) is unreachable and this request needs it; retry shortly. Sent with HTTP 503. */
  StateUnavailable: -32013,
  /** Policy refused the call (issue: policy). */
  PolicyDenied: -31020,
  /** A rate limit (config or policy obligation) is exhausted; `data.retryAfterMs` says when to try again. */
  RateLimited: -31029,
  /** The audit log cannot write, so the request is refused rather than served unrecorded (fail closed). */
  AuditUnavailable: -31030,
} as const;

/** An error that knows its JSON-RPC shape, so every layer can throw it and the edge can answer with it. */
export class JsonRpcError extends Error {
  readonly code: number;
  readonly data: unknown;

  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.name = "JsonRpcError";
    this.code = code;
    this.data = data;
  }

  toJSON(): JsonRpcErrorObject {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  static from(error: unknown): JsonRpcError {
    if (error instanceof JsonRpcError) return error;
    return new JsonRpcError(ErrorCode.InternalError, "internal gateway error");
  }
}
