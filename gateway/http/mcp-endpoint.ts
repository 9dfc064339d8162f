/**
 * Streamable HTTP at /mcp (MCP 2025-03-26 … 2025-11-25): POST carries client messages, GET opens the session's
 * server-to-client stream, DELETE ends the session.
 *
 * A POSTed request is answered with plain JSON unless something must be streamed first (progress, a sampling
 * request): the response is chosen when the first message is ready, so the common call pays no SSE framing.
 */
import type { Context } from "hono";
import {
  ErrorCode,
  Method,
  allowsBatches,
  classify,
  META,
  asObject,
  failure,
  isModernVersion,
  serialize,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type ProtocolVersion,
} from "../protocol/index.ts";
import type { ClientSession, SessionDirectory } from "../session/index.ts";
import { StateUnavailableError } from "../state/index.ts";
import { auditUnavailable, type Dispatcher, type ModernRequests, type RelatedStream, type RequestContext } from "../pipeline/index.ts";
import { createModernEndpoint } from "./modern-endpoint.ts";
import type { AgentIdentity } from "../identity/index.ts";
import { auditUnavailableResponse, type AuthOutcome } from "./auth.ts";
import { SSE_HEADERS, SseChannel, lazyStreamResponse, sseResponse } from "./sse-channel.ts";
import { logger } from "../log.ts";
import { acceptsJson, acceptsSse, checkOrigin, checkPostHeaders, checkProtocolVersion, errorResponse, readBody, type Refusal } from "./guards.ts";

export interface McpEndpointDeps {
  dispatcher: Dispatcher;
  modern: ModernRequests;
  sessions: SessionDirectory;
  settings: () => { maxBodyBytes: number; allowedOrigins: readonly string[] };
  /** Whether the gateway listens on a loopback address (then the Host header must be a loopback name). */
  loopbackBind: () => boolean;
  /** false while draining for shutdown: new sessions are refused. */
  accepting: () => boolean;
  authenticate: (c: Context) => Promise<AuthOutcome>;
}

const log = logger("mcp-endpoint");
const SESSION_HEADER = "mcp-session-id";
const JSON_HEADERS = { "content-type": "application/json" } as const;
const KEEPALIVE_MS = 15_000;

/**
 * 503 for a request that needs shared state while Redis is away. The client learns what failed and to retry;
 * where Redis lives and why it failed go to the operator's log only.
 */
function stateUnavailable(what: string, cause: string): Refusal {
  log.warn({ cause }, `shared state unavailable: ${what}`);
  return { status: 503, code: ErrorCode.StateUnavailable, message: `Service Unavailable: shared session state is unreachable, so ${what}; retry shortly` };
}

const RETRY_AFTER = { "retry-after": "1" } as const;

export function createMcpEndpoint(deps: McpEndpointDeps) {
  const common = (c: Context): Response | undefined =>
    checkOrigin(c.req.header("origin"), c.req.header("host"), deps.settings().allowedOrigins, deps.loopbackBind());

  const httpOf = (c: Context): NonNullable<RequestContext["http"]> => ({
    method: c.req.method,
    path: c.req.path,
    remote: (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress,
  });

  /** An error answered here, after identity: recorded in the audit trail first, like every other answer. */
  const refuse = async (
    c: Context,
    identity: AgentIdentity,
    { status, code, message, data }: Refusal,
    extra: { id?: string | number | null; method?: string; session?: ClientSession; bytesIn?: number } = {},
  ): Promise<Response> => {
    const kept = await deps.dispatcher.audit.event({
      kind: "rejected",
      identity,
      session: extra.session,
      method: extra.method,
      decision: "none",
      reasons: [message],
      httpStatus: status,
      code,
      bytesIn: extra.bytesIn ?? 0,
      traceparent: c.req.header("traceparent"),
      http: httpOf(c),
    });
    return kept ? errorResponse(status, code, message, extra.id ?? null, status === 503 ? RETRY_AFTER : {}, data) : auditUnavailableResponse();
  };

  /**
   * 400 when the header is missing; 404 when the id is unknown, ended, or belongs to another identity (which must
   * not even learn that the session exists).
   */
  const lookupSession = async (c: Context, identity: AgentIdentity, method?: string): Promise<{ session: ClientSession } | { response: Response }> => {
    const id = c.req.header(SESSION_HEADER);
    if (id === undefined || id === "") {
      return { response: await refuse(c, identity, { status: 400, code: ErrorCode.InvalidRequest, message: "Bad Request: Mcp-Session-Id header is required" }, { method }) };
    }
    let session: ClientSession | undefined;
    try {
      session = await deps.sessions.resolve(id, identity);
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      return { response: await refuse(c, identity, stateUnavailable("this replica cannot find the session", error.message), { method }) };
    }
    if (session === undefined) {
      return { response: await refuse(c, identity, { status: 404, code: ErrorCode.InvalidRequest, message: "Session not found: it ended or never existed; initialize a new one" }, { method }) };
    }
    return { session };
  };

  const modernPost = createModernEndpoint({
    dispatcher: deps.dispatcher,
    modern: deps.modern,
    maxBodyBytes: () => deps.settings().maxBodyBytes,
    replicaId: deps.sessions.replicaId,
    refuse,
    context: (c, bytesIn) => ({ bytesIn, traceparent: c.req.header("traceparent"), http: httpOf(c) }),
  });

  /** 2026-07-28 has no GET stream and no sessions to DELETE. */
  const modernGetOrDelete = (c: Context): Response | undefined => {
    const version = c.req.header("mcp-protocol-version");
    if (version === undefined || !isModernVersion(version)) return undefined;
    return errorResponse(405, ErrorCode.InvalidRequest, `Method Not Allowed: ${version} has no ${c.req.method} on the MCP endpoint; POST subscriptions/listen for notifications`, null, { allow: "POST" });
  };

  async function post(c: Context): Promise<Response> {
    const rejected = common(c) ?? checkPostHeaders(c.req.header("content-type"), c.req.header("accept"));
    if (rejected) return rejected;
    const auth = await deps.authenticate(c);
    if ("response" in auth) return auth.response;
    const { identity } = auth;
    const versionHeader = c.req.header("mcp-protocol-version");
    if (versionHeader !== undefined && isModernVersion(versionHeader)) return modernPost(c, identity, versionHeader);
    const versionCheck = checkProtocolVersion(versionHeader);
    if ("refusal" in versionCheck) return refuse(c, identity, versionCheck.refusal);
    const body = await readBody(c.req.raw, deps.settings().maxBodyBytes);
    if ("refusal" in body) return refuse(c, identity, body.refusal, { bytesIn: Number(c.req.header("content-length") ?? 0) || 0 });
    const bytesIn = Buffer.byteLength(body.text);

    let parsed: unknown;
    try {
      parsed = JSON.parse(body.text);
    } catch {
      return refuse(c, identity, { status: 400, code: ErrorCode.ParseError, message: "Parse error: the body is not valid JSON" }, { bytesIn });
    }
    if (Array.isArray(parsed)) return postBatch(c, identity, parsed, versionCheck.version);

    const classified = classify(parsed);
    if (classified.kind === "invalid") {
      return refuse(c, identity, { status: 400, code: ErrorCode.InvalidRequest, message: `Invalid Request: ${classified.reason}` }, { id: classified.id, bytesIn });
    }
    const context: RequestContext = { bytesIn, traceparent: c.req.header("traceparent"), http: httpOf(c) };
    if (classified.kind === "request" && asObject(classified.message.params?._meta)?.[META.protocolVersion] !== undefined) {
      // A 2026-07-28 body under a 2025 (or no) MCP-Protocol-Version header: the header must say what the body does.
      const message = `Header mismatch: MCP-Protocol-Version header ${versionHeader === undefined ? "is missing" : `value ${JSON.stringify(versionHeader)} does not match`} _meta["${META.protocolVersion}"]`;
      return refuse(c, identity, { status: 400, code: ErrorCode.HeaderMismatch, message }, { id: classified.message.id, method: classified.message.method, bytesIn });
    }
    if (classified.kind === "request" && classified.message.method === Method.Initialize) {
      return initialize(c, identity, classified.message, context);
    }
    const found = await lookupSession(c, identity, classified.kind === "response" ? undefined : classified.message.method);
    if ("response" in found) return found.response;
    const { session } = found;

    if (classified.kind === "notification") {
      deps.dispatcher.handleNotification(session, classified.message);
      return new Response(null, { status: 202 });
    }
    if (classified.kind === "response") {
      deps.dispatcher.handleResponse(session, classified.message);
      return new Response(null, { status: 202 });
    }
    return respond(session, classified.message, acceptsSse(c.req.header("accept")), acceptsJson(c.req.header("accept")), context);
  }

  async function initialize(c: Context, identity: AgentIdentity, request: JsonRpcRequest, context: RequestContext): Promise<Response> {
    if (c.req.header(SESSION_HEADER) !== undefined) {
      return refuse(c, identity, { status: 400, code: ErrorCode.InvalidRequest, message: "Bad Request: initialize must not carry an Mcp-Session-Id" }, { id: request.id, method: Method.Initialize, bytesIn: context.bytesIn });
    }
    if (!deps.accepting()) return refuse(c, identity, { status: 503, code: ErrorCode.ShuttingDown, message: "gateway is shutting down" }, { id: request.id, method: Method.Initialize, bytesIn: context.bytesIn });
    const down = deps.sessions.unavailable();
    if (down !== undefined) {
      return refuse(c, identity, stateUnavailable("a new session cannot be started", down), { id: request.id, method: Method.Initialize, bytesIn: context.bytesIn });
    }
    const { session, response } = await deps.dispatcher.initialize(request, identity, context);
    const sessionHeader: Record<string, string> = {};
    if (session !== undefined) {
      try {
        await deps.sessions.create(session);
      } catch (error) {
        if (!(error instanceof StateUnavailableError)) throw error;
        session.close();
        return refuse(c, identity, stateUnavailable("a new session cannot be started", error.message), { id: request.id, method: Method.Initialize, session });
      }
      sessionHeader["mcp-session-id"] = session.id;
    }
    if (!acceptsJson(c.req.header("accept"))) return sseResponse(response, sessionHeader);
    return new Response(serialize(response), { status: 200, headers: { ...JSON_HEADERS, ...sessionHeader } });
  }

  function respond(session: ClientSession, request: JsonRpcRequest, sse: boolean, json: boolean, context: RequestContext): Promise<Response> {
    return lazyStreamResponse((stream) => deps.dispatcher.handleRequest(session, request, stream, context), { sse, json });
  }

  /** 2025-03-26 allowed batches; later revisions removed them, so they get a precise -32600. */
  async function postBatch(c: Context, identity: AgentIdentity, batch: unknown[], headerVersion: ProtocolVersion): Promise<Response> {
    const id = c.req.header(SESSION_HEADER);
    const known = id === undefined ? undefined : deps.sessions.local.get(id);
    const version = known !== undefined && known.admits(identity) ? known.protocolVersion : headerVersion;
    if (!allowsBatches(version)) {
      return refuse(c, identity, { status: 400, code: ErrorCode.InvalidRequest, message: `Invalid Request: JSON-RPC batches are not supported in protocol version ${version}` });
    }
    if (batch.length === 0) return refuse(c, identity, { status: 400, code: ErrorCode.InvalidRequest, message: "Invalid Request: empty batch" });
    const found = await lookupSession(c, identity);
    if ("response" in found) return found.response;
    const { session } = found;
    const replies: Array<Promise<JsonRpcResponse>> = [];
    // A refused item is recorded like any other answer; the batch's reply waits for its records.
    const refuseItem = async (id: string | number | null, message: string, method?: string): Promise<JsonRpcResponse> => {
      const kept = await deps.dispatcher.audit.event({
        kind: "rejected", identity, session, method, decision: "none", reasons: [message], httpStatus: 200, code: ErrorCode.InvalidRequest,
        bytesIn: 0, traceparent: c.req.header("traceparent"), http: httpOf(c),
      });
      return kept ? failure(id, { code: ErrorCode.InvalidRequest, message }) : auditUnavailable(id);
    };
    for (const item of batch) {
      const classified = classify(item);
      if (classified.kind === "invalid") {
        replies.push(refuseItem(classified.id, `Invalid Request: ${classified.reason}`));
      } else if (classified.kind === "request" && classified.message.method === Method.Initialize) {
        replies.push(refuseItem(classified.message.id, "initialize must not be batched", Method.Initialize));
      } else if (classified.kind === "request") {
        const toStandalone: RelatedStream = { send: (m) => session.sendStandalone(m) };
        const context: RequestContext = { traceparent: c.req.header("traceparent"), http: httpOf(c) };
        replies.push(deps.dispatcher.handleRequest(session, classified.message, toStandalone, context));
      } else if (classified.kind === "notification") {
        deps.dispatcher.handleNotification(session, classified.message);
      } else {
        deps.dispatcher.handleResponse(session, classified.message);
      }
    }
    if (replies.length === 0) return new Response(null, { status: 202 });
    return new Response(JSON.stringify(await Promise.all(replies)), { status: 200, headers: JSON_HEADERS });
  }

  async function get(c: Context): Promise<Response> {
    // Hono answers HEAD with the GET handler and drops the body unread: that would attach a stream nobody reads.
    if (c.req.method === "HEAD") return new Response(null, { status: 405, headers: { allow: "GET, POST, DELETE" } });
    const rejected = common(c) ?? modernGetOrDelete(c);
    if (rejected) return rejected;
    const auth = await deps.authenticate(c);
    if ("response" in auth) return auth.response;
    const accept = c.req.header("accept");
    if (accept === undefined || !accept.includes("text/event-stream")) {
      return refuse(c, auth.identity, { status: 406, code: ErrorCode.InvalidRequest, message: "Not Acceptable: GET /mcp needs Accept: text/event-stream" });
    }
    const versionCheck = checkProtocolVersion(c.req.header("mcp-protocol-version"));
    if ("refusal" in versionCheck) return refuse(c, auth.identity, versionCheck.refusal);
    const found = await lookupSession(c, auth.identity);
    if ("response" in found) return found.response;
    const { session } = found;
    const channel: SseChannel = new SseChannel({
      keepaliveMs: KEEPALIVE_MS,
      onClose: () => {
        if (session.detachStandalone(channel)) deps.sessions.streamClosed(session);
      },
    });
    if (!session.attachStandalone(channel)) {
      channel.close();
      return refuse(c, auth.identity, { status: 409, code: ErrorCode.InvalidRequest, message: "Conflict: this session already has an open GET stream" }, { session });
    }
    deps.sessions.streamOpened(session);
    session.touch();
    return new Response(channel.body, { status: 200, headers: SSE_HEADERS });
  }

  async function del(c: Context): Promise<Response> {
    const rejected = common(c) ?? modernGetOrDelete(c);
    if (rejected) return rejected;
    const auth = await deps.authenticate(c);
    if ("response" in auth) return auth.response;
    const found = await lookupSession(c, auth.identity);
    if ("response" in found) return found.response;
    try {
      await deps.sessions.end(found.session);
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      return refuse(c, auth.identity, stateUnavailable("the session ended on this replica only (repeat the DELETE)", error.message), { session: found.session });
    }
    return new Response(null, { status: 200 });
  }

  return { post, get, delete: del };
}
