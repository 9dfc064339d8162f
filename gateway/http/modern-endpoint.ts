/**
 * POST /mcp for MCP 2026-07-28 (stateless): chosen per request by its MCP-Protocol-Version header, beside the
 * 2025 session endpoint on the same path.
 *
 * Header-first: identity (already verified), the method, the name it addresses and the list-level policy are
 * decided from the headers before the body is read, so a request for something the agent may not see costs no
 * body read or parse. The body is then checked against every header it mirrors (Mcp-Method, Mcp-Name,
 * Mcp-Param-*, the version in `_meta`): a mismatch is 400 + HeaderMismatch, because whatever routed on the
 * headers must be what runs.
 */
import type { Context } from "hono";
import {
  ErrorCode,
  JsonRpcError,
  MCP_HEADER,
  META,
  Method,
  asObject,
  checkParamHeaders,
  classify,
  decodeHeaderValue,
  nameHeaderSource,
  serialize,
  type JsonRpcMessage,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../protocol/index.ts";
import { MODERN_METHODS, ModernMethod, requestSession, type Dispatcher, type ModernRequests, type RelatedStream, type RequestContext } from "../pipeline/index.ts";
import type { ClientSession } from "../session/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import { SSE_HEADERS, SseChannel, lazyStreamResponse } from "./sse-channel.ts";
import { acceptsJson, acceptsSse, readBody, type Refusal } from "./guards.ts";

/** Records and answers a refusal (the session endpoint's `refuse`, shared so both families audit alike). */
export type Refuse = (
  c: Context,
  identity: AgentIdentity,
  refusal: Refusal,
  extra?: { id?: string | number | null; method?: string; session?: ClientSession; bytesIn?: number },
) => Promise<Response>;

export interface ModernEndpointDeps {
  dispatcher: Dispatcher;
  modern: ModernRequests;
  maxBodyBytes: () => number;
  replicaId: string;
  refuse: Refuse;
  context: (c: Context, bytesIn: number) => RequestContext;
}

const JSON_HEADERS = { "content-type": "application/json" } as const;
const LISTEN_KEEPALIVE_MS = 15_000;
/** Methods whose Mcp-Name header is required, and which body field it mirrors. */
const NAMED: ReadonlySet<string> = new Set([Method.ToolsCall, Method.PromptsGet, Method.ResourcesRead]);

const mismatch = (message: string): Refusal => ({ status: 400, code: ErrorCode.HeaderMismatch, message: `Header mismatch: ${message}` });
const quoted = (value: string): string => JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);

export function createModernEndpoint(deps: ModernEndpointDeps) {
  const { dispatcher, modern } = deps;

  return async function post(c: Context, identity: AgentIdentity, version: string): Promise<Response> {
    const refuse = (refusal: Refusal, extra?: Parameters<Refuse>[3]) => deps.refuse(c, identity, refusal, extra);
    const method = c.req.header(MCP_HEADER.method);
    if (method === undefined || method === "") return refuse(mismatch("the Mcp-Method header is required"));
    // Notification POSTs have no header rules in this revision; the body decides (and is then ignored).
    if (!MODERN_METHODS.has(method) && !method.startsWith("notifications/")) {
      return refuse({ status: 404, code: ErrorCode.MethodNotFound, message: `Method not found: ${method} (not a ${version} method)` }, { method });
    }
    let name: string | undefined;
    if (NAMED.has(method)) {
      const raw = c.req.header(MCP_HEADER.name);
      if (raw === undefined) return refuse(mismatch(`the Mcp-Name header is required for ${method}`), { method });
      const decoded = decodeHeaderValue(raw);
      if (!decoded.ok) return refuse(mismatch(`Mcp-Name: ${decoded.reason}`), { method });
      name = decoded.value;
      if (dispatcher.precheck(() => requestSessionFor(identity, version, deps.replicaId), method, name) === "hidden") {
        // The agent may not even see it: refused before the body is read, as any call to it would be.
        return refuse({ status: 403, code: ErrorCode.PolicyDenied, message: `Denied by policy: ${method} ${quoted(name)} is not available to this agent` }, { method });
      }
    }

    const body = await readBody(c.req.raw, deps.maxBodyBytes());
    if ("refusal" in body) return refuse(body.refusal, { method, bytesIn: Number(c.req.header("content-length") ?? 0) || 0 });
    const bytesIn = Buffer.byteLength(body.text);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.text);
    } catch {
      return refuse({ status: 400, code: ErrorCode.ParseError, message: "Parse error: the body is not valid JSON" }, { method, bytesIn });
    }
    if (Array.isArray(parsed)) return refuse({ status: 400, code: ErrorCode.InvalidRequest, message: `Invalid Request: ${version} has no JSON-RPC batches` }, { method, bytesIn });
    const classified = classify(parsed);
    if (classified.kind === "invalid") return refuse({ status: 400, code: ErrorCode.InvalidRequest, message: `Invalid Request: ${classified.reason}` }, { id: classified.id, method, bytesIn });
    if (classified.kind === "response") return refuse({ status: 400, code: ErrorCode.InvalidRequest, message: `Invalid Request: ${version} clients send no JSON-RPC responses` }, { method, bytesIn });
    // The revision defines no client notifications over HTTP (cancellation is closing the stream): accepted, ignored.
    if (classified.kind === "notification") return new Response(null, { status: 202 });
    const request = classified.message;
    const refuseRequest = (refusal: Refusal) => refuse(refusal, { id: request.id, method, bytesIn });

    const problem = bodyAgainstHeaders(request, method, name, version);
    if (problem !== undefined) return refuseRequest(problem);
    let session: ClientSession;
    try {
      session = requestSession(request.params, identity, deps.replicaId);
    } catch (error) {
      const { code, message, data } = JsonRpcError.from(error);
      return refuseRequest({ status: 400, code, message, data });
    }
    const paramProblem = method === Method.ToolsCall && name !== undefined ? paramHeadersAgainstBody(c, request, name, dispatcher, session) : undefined;
    if (paramProblem !== undefined) return refuseRequest(paramProblem);
    const context = deps.context(c, bytesIn);
    if (method === ModernMethod.Listen) return listen(session, request, context);
    return respond(c, session, request, context);
  };

  function listen(session: ClientSession, request: JsonRpcRequest, context: RequestContext): Promise<Response> {
    const channel = new SseChannel({ keepaliveMs: LISTEN_KEEPALIVE_MS, onClose: () => modern.listenerClosed(session) });
    return modern.listen(session, request, channel, context).then((refused) => {
      if (refused === undefined) return new Response(channel.body, { status: 200, headers: SSE_HEADERS });
      channel.close();
      return new Response(serialize(refused), { status: 200, headers: JSON_HEADERS });
    });
  }

  /** JSON unless something must stream first (progress, log lines), as on the session endpoint. */
  function respond(c: Context, session: ClientSession, request: JsonRpcRequest, context: RequestContext): Promise<Response> {
    const accept = c.req.header("accept");
    const signal = c.req.raw.signal;
    let abandon: ((reason: string) => void) | undefined;
    let answered = false;
    // Closing the response (stream) before the answer is how a 2026-07-28 client cancels.
    const clientGone = (): void => {
      if (!answered) abandon?.("the client closed the response stream");
    };
    signal.addEventListener("abort", clientGone, { once: true });
    const run = async (stream: RelatedStream): Promise<JsonRpcResponse> => {
      const answer = await modern.handle(session, request, stream, context, (giveUp) => {
        abandon = giveUp;
        if (signal.aborted) clientGone();
      });
      answered = true;
      signal.removeEventListener("abort", clientGone);
      return answer;
    };
    return lazyStreamResponse(run, { sse: acceptsSse(accept), json: acceptsJson(accept), onClose: clientGone, status: statusOf });
  }
}

/**
 * The spec's HTTP status for errors it names (-32021 is a 400), and 503 for "not now" (draining, audit log down)
 * as on the session endpoint; everything else is a JSON-RPC answer in a 200.
 */
function statusOf(response: JsonRpcMessage): number {
  if (!("error" in response)) return 200;
  const { code } = response.error;
  if (code === ErrorCode.MissingRequiredClientCapability) return 400;
  return code === ErrorCode.ShuttingDown || code === ErrorCode.AuditUnavailable ? 503 : 200;
}

/** A session-shaped probe for the header-first policy check: who is asking is all the list filter needs. */
function requestSessionFor(identity: AgentIdentity, version: string, replicaId: string): ClientSession {
  return requestSession({ _meta: { [META.protocolVersion]: version, [META.clientCapabilities]: {} } }, identity, replicaId);
}

/** What routed on the headers must be what the body asks: any difference is a HeaderMismatch. */
function bodyAgainstHeaders(request: JsonRpcRequest, method: string, name: string | undefined, version: string): Refusal | undefined {
  if (request.method !== method) return mismatch(`Mcp-Method header value ${quoted(method)} does not match body value ${quoted(request.method)}`);
  if (name !== undefined) {
    const bodyName = nameHeaderSource(method, request.params);
    if (bodyName !== name) {
      const field = method === Method.ResourcesRead ? "params.uri" : "params.name";
      return mismatch(`Mcp-Name header value ${quoted(name)} does not match body value ${bodyName === undefined ? `(no ${field})` : quoted(bodyName)}`);
    }
  }
  const bodyVersion = asObject(request.params?._meta)?.[META.protocolVersion];
  if (bodyVersion !== undefined && bodyVersion !== version) {
    return mismatch(`MCP-Protocol-Version header value ${quoted(version)} does not match _meta["${META.protocolVersion}"] ${quoted(String(bodyVersion))}`);
  }
  return undefined;
}

/** tools/call: each Mcp-Param-* header the tool's x-mcp-header annotations call for must carry the body's value. */
function paramHeadersAgainstBody(c: Context, request: JsonRpcRequest, name: string, dispatcher: Dispatcher, session: ClientSession): Refusal | undefined {
  const route = dispatcher.toolRoute(name);
  if (route === undefined || route.headerParams.length === 0) return undefined;
  // A tool this agent may not see gets the handler's answer (denied, or "unknown"), never a header detail about it.
  if (dispatcher.listed(() => session, Method.ToolsCall, name) === false) return undefined;
  const checked = checkParamHeaders(route.headerParams, request.params?.arguments, (header) => c.req.header(header));
  return checked.ok ? undefined : mismatch(checked.reason);
}
