/**
 * Transport-level checks on /mcp, in the order the spec implies. Each returns a ready Response to send, or
 * undefined to go on. Nothing here looks past headers and the JSON-RPC envelope.
 */
import {
  ErrorCode,
  ALL_PROTOCOL_VERSIONS,
  VERSION_WHEN_HEADER_ABSENT,
  failure,
  isSupportedVersion,
  type JsonRpcId,
  type ProtocolVersion,
} from "../protocol/index.ts";

export function errorResponse(status: number, code: number, message: string, id: JsonRpcId | null = null, headers: Record<string, string> = {}, data?: unknown): Response {
  return new Response(JSON.stringify(failure(id, data === undefined ? { code, message } : { code, message, data })), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

const LOOPBACK_HOSTNAMES = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

export function isLoopbackHostname(hostname: string): boolean {
  return LOOPBACK_HOSTNAMES.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname);
}

/** Host headers repeat (one per client, really): remember the answer rather than parse a URL per request. */
const loopbackHostCache = new Map<string, boolean>();

function isLoopbackHost(hostHeader: string): boolean {
  let loopback = loopbackHostCache.get(hostHeader);
  if (loopback === undefined) {
    let hostname = "";
    try {
      hostname = new URL(`http://${hostHeader}`).hostname;
    } catch {
      // unparseable: not loopback
    }
    loopback = isLoopbackHostname(hostname);
    if (loopbackHostCache.size > 1_000) loopbackHostCache.clear();
    loopbackHostCache.set(hostHeader, loopback);
  }
  return loopback;
}

/**
 * DNS rebinding and cross-site pages must not drive the gateway (the transport spec's MUST). Browsers always send
 * Origin on cross-origin requests: it must be a configured origin or a loopback one. A rebinding attacker
 * controls both Origin and Host, so on a loopback bind the Host header must name a loopback host too; that also
 * covers same-origin GETs, which carry no Origin. Non-browser clients send no Origin and a loopback Host.
 */
export function checkOrigin(
  origin: string | undefined,
  host: string | undefined,
  allowedOrigins: readonly string[],
  loopbackBind: boolean,
): Response | undefined {
  if (loopbackBind && host !== undefined && !isLoopbackHost(host)) {
    return errorResponse(403, ErrorCode.InvalidRequest, `Forbidden: host ${JSON.stringify(host)} is not this gateway's loopback address`);
  }
  if (origin === undefined || allowedOrigins.includes(origin)) return undefined;
  let originHost = "";
  try {
    originHost = new URL(origin).hostname;
  } catch {
    // an unparseable Origin is simply not allowed
  }
  if (allowedOrigins.length === 0 && isLoopbackHostname(originHost)) return undefined;
  return errorResponse(403, ErrorCode.InvalidRequest, `Forbidden: origin ${JSON.stringify(origin)} is not allowed`);
}

/**
 * A refusal decided after authentication: data rather than a ready Response, so the endpoint records it in the
 * audit trail before it answers with `errorResponse`.
 */
export interface Refusal {
  status: number;
  code: number;
  message: string;
  /** The JSON-RPC error's `data`, when the spec defines one (UnsupportedProtocolVersion's `supported`). */
  data?: unknown;
}

/**
 * A legacy request's MCP-Protocol-Version: absent → 2025-03-26, as the transport spec says; a version nobody
 * speaks → 400 with UnsupportedProtocolVersion (-32022) listing every version, so a client of either family can
 * pick one. (2026-07-28 requests never get here: the endpoint hands them to the stateless path first.)
 */
export function checkProtocolVersion(header: string | undefined): { version: ProtocolVersion } | { refusal: Refusal } {
  if (header === undefined) return { version: VERSION_WHEN_HEADER_ABSENT };
  if (isSupportedVersion(header)) return { version: header };
  return {
    refusal: {
      status: 400,
      code: ErrorCode.UnsupportedProtocolVersion,
      message: `Bad Request: unsupported MCP-Protocol-Version ${JSON.stringify(header)}; supported: ${ALL_PROTOCOL_VERSIONS.join(", ")}`,
      data: { supported: [...ALL_PROTOCOL_VERSIONS], requested: header },
    },
  };
}

export function checkPostHeaders(contentType: string | undefined, accept: string | undefined): Response | undefined {
  if (contentType === undefined || !contentType.toLowerCase().startsWith("application/json")) {
    return errorResponse(415, ErrorCode.InvalidRequest, "Unsupported Media Type: Content-Type must be application/json");
  }
  if (accept !== undefined && !acceptsJson(accept) && !acceptsSse(accept)) {
    return errorResponse(406, ErrorCode.InvalidRequest, "Not Acceptable: Accept must allow application/json and text/event-stream");
  }
  return undefined;
}

export function acceptsSse(accept: string | undefined): boolean {
  return accept === undefined || accept.includes("text/event-stream") || accept.includes("*/*");
}

export function acceptsJson(accept: string | undefined): boolean {
  return accept === undefined || accept.includes("application/json") || accept.includes("*/*");
}

/** Reads the body with a hard cap, whether or not Content-Length is honest or present. */
export async function readBody(request: Request, maxBytes: number): Promise<{ text: string } | { refusal: Refusal }> {
  const tooLarge = (): { refusal: Refusal } => ({
    refusal: { status: 413, code: ErrorCode.InvalidRequest, message: `Payload Too Large: the body limit is ${maxBytes} bytes` },
  });
  const declared = request.headers.get("content-length");
  if (declared !== null) {
    // Node's parser never delivers more than Content-Length, so the header is a safe bound here.
    return Number(declared) > maxBytes ? tooLarge() : { text: await request.text() };
  }
  if (request.body === null) return { text: "" };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return tooLarge();
    }
    chunks.push(value);
  }
  return { text: Buffer.concat(chunks).toString("utf8") };
}
