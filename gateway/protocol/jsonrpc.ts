/**
 * JSON-RPC 2.0 messages as MCP uses them, with hand-written shape checks.
 *
 * Why not the SDK's zod schemas: the gateway classifies every message on the hot path, and a few `typeof`
 * checks cost nanoseconds where a schema parse costs microseconds (see shared/ARCHITECTURE.md).
 */

export type JsonRpcId = string | number;
export type JsonObject = Record<string, unknown>;

export interface JsonRpcRequest {
  jsonrpc: "2.0";
  id: JsonRpcId;
  method: string;
  params?: JsonObject;
}

export interface JsonRpcNotification {
  jsonrpc: "2.0";
  method: string;
  params?: JsonObject;
}

export interface JsonRpcSuccess {
  jsonrpc: "2.0";
  id: JsonRpcId;
  result: JsonObject;
}

export interface JsonRpcErrorObject {
  code: number;
  message: string;
  data?: unknown;
}

export interface JsonRpcFailure {
  jsonrpc: "2.0";
  id: JsonRpcId | null;
  error: JsonRpcErrorObject;
}

export type JsonRpcResponse = JsonRpcSuccess | JsonRpcFailure;
export type JsonRpcMessage = JsonRpcRequest | JsonRpcNotification | JsonRpcResponse;

/**
 * A message as JSON text, serialized once: the audit stage measures a reply's size and the transport then sends
 * it, and both get the same string. Messages are not changed once answered, so the text stays theirs.
 */
const serialized = new WeakMap<object, string>();

export function serialize(message: JsonRpcMessage | readonly JsonRpcMessage[]): string {
  let text = serialized.get(message);
  if (text === undefined) {
    text = JSON.stringify(message);
    serialized.set(message, text);
  }
  return text;
}

export type Classified =
  | { kind: "request"; message: JsonRpcRequest }
  | { kind: "notification"; message: JsonRpcNotification }
  | { kind: "response"; message: JsonRpcResponse }
  | { kind: "invalid"; reason: string; id: JsonRpcId | null };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isId(value: unknown): value is JsonRpcId {
  return typeof value === "string" || (typeof value === "number" && Number.isFinite(value));
}

/** Classifies one decoded JSON value. MCP forbids `null` ids on requests, so they are invalid here. */
export function classify(value: unknown): Classified {
  if (!isObject(value)) return { kind: "invalid", reason: "a JSON-RPC message must be an object", id: null };
  const id = isId(value.id) ? value.id : null;
  if (value.jsonrpc !== "2.0") return { kind: "invalid", reason: 'jsonrpc must be "2.0"', id };
  if ("method" in value) {
    if (typeof value.method !== "string" || value.method.length === 0) {
      return { kind: "invalid", reason: "method must be a non-empty string", id };
    }
    if (value.params !== undefined && !isObject(value.params)) {
      return { kind: "invalid", reason: "params must be an object", id };
    }
    if (!("id" in value)) return { kind: "notification", message: value as unknown as JsonRpcNotification };
    if (id === null) return { kind: "invalid", reason: "id must be a string or a number", id: null };
    return { kind: "request", message: value as unknown as JsonRpcRequest };
  }
  if ("result" in value) {
    if (id === null) return { kind: "invalid", reason: "a response needs a string or number id", id: null };
    if (!isObject(value.result)) return { kind: "invalid", reason: "result must be an object", id };
    return { kind: "response", message: value as unknown as JsonRpcSuccess };
  }
  if ("error" in value) {
    const error = value.error;
    if (!isObject(error) || typeof error.code !== "number" || typeof error.message !== "string") {
      return { kind: "invalid", reason: "error must have a numeric code and a string message", id };
    }
    return { kind: "response", message: value as unknown as JsonRpcFailure };
  }
  return { kind: "invalid", reason: "not a request, notification or response", id };
}

export function success(id: JsonRpcId, result: JsonObject): JsonRpcSuccess {
  return { jsonrpc: "2.0", id, result };
}

export function failure(id: JsonRpcId | null, error: JsonRpcErrorObject): JsonRpcFailure {
  return { jsonrpc: "2.0", id, error };
}

export function notification(method: string, params?: JsonObject): JsonRpcNotification {
  return params === undefined ? { jsonrpc: "2.0", method } : { jsonrpc: "2.0", method, params };
}

export function asObject(value: unknown): JsonObject | undefined {
  return isObject(value) ? value : undefined;
}
