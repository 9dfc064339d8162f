/**
 * The agent-facing side of MCP, transport-neutral: one method, one handler. Each handler routes through the
 * current routing table to the owning backend and maps names, URIs and tokens both ways.
 *
 * Identity (already verified by the transport), policy and audit plug in here: policy between the table lookup
 * and the backend call, audit when the answer is ready and before it leaves.
 */
import { performance } from "node:perf_hooks";
import {
  ErrorCode,
  JsonRpcError,
  LOG_LEVELS,
  Method,
  asObject,
  failure,
  success,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type LogLevel,
} from "../protocol/index.ts";
import { paginate, type RoutingTable, type ToolRoute } from "../routing/index.ts";
import type { ClientSession, SessionDirectory } from "../session/index.ts";
import type { RateLimiter } from "../state/index.ts";
import type { RateLimitSettings } from "../config/schema.ts";
import type { Backend } from "../upstream/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { AuditLog, EntrySettings } from "../audit/index.ts";
import { ArgumentValidators } from "./arguments.ts";
import { PolicyStage, type PolicyGate } from "./policy-stage.ts";
import { mcpParamsOf, type PolicyRequest } from "./policy-input.ts";
import { InflightCalls, type RelatedStream } from "./inflight.ts";
import { ResourceSubscriptions } from "./subscriptions.ts";
import { AuditStage, auditUnavailable, type CallTrace, type RequestContext } from "./audit-stage.ts";
import { RateLimitStage } from "./rate-limit-stage.ts";
import { startSession } from "./initialize.ts";
import { logger } from "../log.ts";

const log = logger("dispatcher");

export interface DispatcherDeps {
  backends: () => ReadonlyMap<string, Backend>;
  table: () => RoutingTable;
  sessions: SessionDirectory;
  pageSize: () => number;
  /** The bucket store (shared state, fixed for the gateway's life) and the configured limits (they reload). */
  rateLimiter: RateLimiter;
  rateLimitSettings: () => RateLimitSettings;
  /** A gateway-signed assertion for servers configured with `identity: assertion`; undefined for the rest. */
  assertionFor?: (server: string, agent: AgentIdentity) => Promise<string> | undefined;
  /** The policy stage; undefined when no policy is configured. */
  policy?: () => PolicyGate | undefined;
  /** The audit log; undefined when auditing is off. */
  audit?: () => AuditLog | undefined;
  /** This replica's name (records and the policy input carry it) and how arguments are recorded. */
  auditSettings: EntrySettings;
}

type Handler = (session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, trace: CallTrace) => Promise<JsonObject>;

export class Dispatcher {
  readonly inflight = new InflightCalls();
  readonly subscriptions = new ResourceSubscriptions();
  private readonly validators = new ArgumentValidators();
  private readonly policy: PolicyStage;
  private readonly rateLimits: RateLimitStage;
  readonly audit: AuditStage;
  private readonly deps: DispatcherDeps;
  private readonly handlers: ReadonlyMap<string, Handler>;
  private draining = false;

  constructor(deps: DispatcherDeps) {
    this.deps = deps;
    this.policy = new PolicyStage(() => deps.policy?.(), deps.table, deps.auditSettings.replica);
    this.audit = new AuditStage(() => deps.audit?.(), deps.auditSettings);
    this.rateLimits = new RateLimitStage(deps.rateLimiter, deps.rateLimitSettings);
    this.handlers = new Map<string, Handler>([
      [Method.Ping, async () => ({})],
      [Method.ToolsList, async (s, r) => this.list(r, "tools", this.policy.visible(s, "tools", this.deps.table().tools))],
      [Method.PromptsList, async (s, r) => this.list(r, "prompts", this.policy.visible(s, "prompts", this.deps.table().prompts))],
      [Method.ResourcesList, async (s, r) => this.list(r, "resources", this.policy.visible(s, "resources", this.deps.table().resources))],
      [Method.ResourceTemplatesList, async (_s, r) => this.list(r, "resourceTemplates", this.deps.table().resourceTemplates)],
      [Method.ToolsCall, (s, r, st, t) => this.callTool(s, r, st, t)],
      [Method.PromptsGet, (s, r, st, t) => this.getPrompt(s, r, st, t)],
      [Method.ResourcesRead, (s, r, st, t) => this.readResource(s, r, st, t)],
      [Method.ResourcesSubscribe, (s, r, _st, t) => this.subscribe(s, r, t)],
      [Method.ResourcesUnsubscribe, (s, r, _st, t) => this.unsubscribe(s, r, t)],
      [Method.CompletionComplete, (s, r, st, t) => this.complete(s, r, st, t)],
      [Method.LoggingSetLevel, (s, r) => this.setLogLevel(s, r)],
    ]);
  }

  /**
   * Header-first routing (2026-07-28): from the Mcp-Method and Mcp-Name headers alone, before the body is read,
   * whether the named tool, prompt or resource exists, and whether this agent may even see it (the list-level
   * policy). unknown: let the handler answer (with the request id); hidden: refuse without reading the body.
   */
  precheck(caller: () => ClientSession, method: string, name: string): "visible" | "hidden" | "unknown" {
    // denyAs: unknown must look exactly like a missing name, which only the handler answers (with the request id).
    if (this.deps.policy?.()?.denyAs !== "explicit") return "unknown";
    const listed = this.listed(caller, method, name);
    return listed === undefined ? "unknown" : listed ? "visible" : "hidden";
  }

  /** Whether the named tool or prompt is in the caller's filtered list; undefined when no such name is routed. */
  listed(caller: () => ClientSession, method: string, name: string): boolean | undefined {
    const table = this.deps.table();
    if (method === Method.ToolsCall) {
      const route = table.tool(name);
      return route === undefined ? undefined : this.policy.lists(caller(), "tools", table.tools, route.definition);
    }
    if (method === Method.PromptsGet) {
      const route = table.prompt(name);
      return route === undefined ? undefined : this.policy.lists(caller(), "prompts", table.prompts, route.definition);
    }
    return undefined; // resources/read: templates make "listed" the wrong test; the call-level decision applies
  }

  /** The tool a header-routed call names, for checking its Mcp-Param-* headers against the body. */
  toolRoute(name: string): ToolRoute | undefined {
    return this.deps.table().tool(name);
  }

  /** Whether a policy decides per agent (lists then differ by caller). */
  get perAgentPolicy(): boolean {
    return this.deps.policy?.() !== undefined;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** After this, new calls are refused with ShuttingDown; in-flight ones finish. */
  stopIntake(): void {
    this.draining = true;
  }

  /** Answers one request; the answer is recorded in the audit log before it is returned. */
  async handleRequest(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, context: RequestContext = {}): Promise<JsonRpcResponse> {
    const startedAt = performance.now();
    session.touch();
    const trace: CallTrace = {};
    const answer = await this.answer(session, request, stream, trace);
    return this.audit.request(session, request, trace, context.shape === undefined ? answer : context.shape(answer), startedAt, context);
  }

  private async answer(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, trace: CallTrace): Promise<JsonRpcResponse> {
    const handler = this.handlers.get(request.method);
    if (handler === undefined) {
      return failure(request.id, { code: ErrorCode.MethodNotFound, message: `Method not found: ${request.method}` });
    }
    if (this.draining && request.method !== Method.Ping) {
      return failure(request.id, { code: ErrorCode.ShuttingDown, message: "gateway is shutting down; retry on another replica" });
    }
    if (this.audit.unavailable() !== undefined) return auditUnavailable(request.id);
    try {
      return success(request.id, await handler(session, request, stream, trace));
    } catch (error) {
      if (!(error instanceof JsonRpcError)) log.error({ err: error, method: request.method }, "handler failed");
      return failure(request.id, JsonRpcError.from(error).toJSON());
    }
  }

  /**
   * initialize, for every transport: creates the session bound to `identity` and records the request. The
   * caller stores the session (when there is one) and sends the response.
   */
  async initialize(request: JsonRpcRequest, identity: AgentIdentity, context: RequestContext = {}): Promise<{ session?: ClientSession; response: JsonRpcResponse }> {
    const startedAt = performance.now();
    let started: ReturnType<typeof startSession> | undefined;
    let response: JsonRpcResponse;
    if (this.audit.unavailable() !== undefined) {
      response = auditUnavailable(request.id);
    } else {
      try {
        started = startSession(request.params, identity, this.deps.backends().values(), this.deps.sessions.replicaId);
        response = success(request.id, started.result);
      } catch (error) {
        response = failure(request.id, JsonRpcError.from(error).toJSON());
      }
    }
    const session = started?.session;
    if (session === undefined) {
      const error = "error" in response ? response.error : { code: ErrorCode.InternalError, message: "no session" };
      const kept = await this.audit.event({ kind: "rejected", identity, method: Method.Initialize, decision: "none", reasons: [error.message], httpStatus: 200, code: error.code, bytesIn: context.bytesIn ?? 0, traceparent: context.traceparent, http: context.http ?? { method: "POST", path: "/mcp" } });
      return { response: kept ? response : auditUnavailable(request.id) };
    }
    const recorded = await this.audit.request(session, request, {}, response, startedAt, context);
    return "error" in recorded ? { response: recorded } : { session, response: recorded };
  }

  handleNotification(session: ClientSession, message: JsonRpcNotification): void {
    session.touch();
    if (message.method === Method.Cancelled) {
      const requestId = message.params?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number") {
        const reason = typeof message.params?.reason === "string" ? message.params.reason : "cancelled by the client";
        const call = this.inflight.find(session.id, requestId);
        if (call !== undefined) call.controller.abort(reason);
        else this.deps.sessions.relayCancel(session, requestId, reason);
      }
    }
    // roots/list_changed is deliberately not forwarded: backends are shared, and one agent's roots must not
    // become every agent's sandbox. Servers with `roots: true` ask the calling client during a call instead.
  }

  handleResponse(session: ClientSession, response: JsonRpcResponse): void {
    session.touch();
    if (!this.deps.sessions.routeClientResponse(session, response)) log.debug({ session: session.id }, "response to no pending request dropped");
  }

  /** A cancellation another replica relayed: the call may be running here. */
  cancelRelayed(sessionId: string, requestId: JsonRpcId, reason: string): void {
    this.inflight.find(sessionId, requestId)?.controller.abort(reason);
  }

  /** The session ended (DELETE, idle reap, shutdown): cancel its calls, drop its subscriptions. */
  sessionEnded(session: ClientSession): void {
    this.inflight.abortSession(session.id, "client session ended");
    for (const { server, originalUri } of this.subscriptions.removeSession(session.id)) {
      this.backendIfReady(server)?.request(Method.ResourcesUnsubscribe, { uri: originalUri }).catch(() => {});
    }
  }

  private list(request: JsonRpcRequest, list: string, items: readonly unknown[]): JsonObject {
    const table = this.deps.table();
    const cursor = request.params?.cursor;
    if (cursor !== undefined && typeof cursor !== "string") throw new JsonRpcError(ErrorCode.InvalidParams, "cursor must be a string");
    const { page, nextCursor } = paginate(items, cursor, this.deps.pageSize(), table.version, list);
    return nextCursor === undefined ? { [list]: page } : { [list]: page, nextCursor };
  }

  private async callTool(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, trace: CallTrace): Promise<JsonObject> {
    const params = request.params ?? {};
    const name = params.name;
    if (typeof name !== "string") throw new JsonRpcError(ErrorCode.InvalidParams, "tools/call needs params.name (a string)");
    const args = params.arguments;
    trace.route = { tool: name };
    trace.arguments = args;
    const route = this.deps.table().tool(name);
    if (route === undefined) throw new JsonRpcError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    if (args !== undefined && asObject(args) === undefined) throw new JsonRpcError(ErrorCode.InvalidParams, "arguments must be an object");
    // Policy first: an agent that may not use a tool must not learn its schema from a validation error.
    const policyRequest: PolicyRequest = { method: Method.ToolsCall, server: route.server, tool: route.originalName, arguments: (args ?? {}) as JsonObject };
    if (route.headerParams.length > 0) policyRequest.mcpParams = mcpParamsOf(route.headerParams, args);
    this.policy.authorize(session, trace, policyRequest, route, `Unknown tool: ${name}`);
    const check = this.validators.check(route.hash, route.definition.inputSchema, args);
    if (!check.ok) {
      const message = `Invalid arguments for tool ${name}: ${check.problems}`;
      // 2025-11-25 (SEP-1303): input errors are tool errors, so the model can read them and correct itself.
      if (session.protocolVersion === "2025-11-25") return { content: [{ type: "text", text: message }], isError: true };
      throw new JsonRpcError(ErrorCode.InvalidParams, message);
    }
    return this.forward(session, request, stream, trace, route.server, Method.ToolsCall, { ...params, name: route.originalName });
  }

  private async getPrompt(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, trace: CallTrace): Promise<JsonObject> {
    const params = request.params ?? {};
    const name = params.name;
    if (typeof name !== "string") throw new JsonRpcError(ErrorCode.InvalidParams, "prompts/get needs params.name (a string)");
    const args = asObject(params.arguments) ?? {};
    trace.route = { prompt: name };
    trace.arguments = params.arguments;
    const route = this.deps.table().prompt(name);
    if (route === undefined) throw new JsonRpcError(ErrorCode.InvalidParams, `Unknown prompt: ${name}`);
    this.policy.authorize(session, trace, { method: Method.PromptsGet, server: route.server, prompt: route.originalName, arguments: args }, undefined, `Unknown prompt: ${name}`);
    return this.forward(session, request, stream, trace, route.server, Method.PromptsGet, { ...params, name: route.originalName });
  }

  private async readResource(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, trace: CallTrace): Promise<JsonObject> {
    const { uri, route } = this.resourceRoute(request, trace);
    this.policy.authorize(session, trace, { method: Method.ResourcesRead, server: route.server, uri: route.originalUri }, undefined, `Resource not found: ${uri}`, ErrorCode.ResourceNotFound);
    const result = await this.forward(session, request, stream, trace, route.server, Method.ResourcesRead, { ...request.params, uri: route.originalUri });
    // Contents name the backend's URI; the client asked for the exposed one.
    const contents = Array.isArray(result.contents) ? result.contents : undefined;
    if (contents === undefined || uri === route.originalUri) return result;
    return { ...result, contents: contents.map((c) => (asObject(c)?.uri === route.originalUri ? { ...(c as JsonObject), uri } : c)) };
  }

  private async subscribe(session: ClientSession, request: JsonRpcRequest, trace: CallTrace): Promise<JsonObject> {
    const { uri, route } = this.resourceRoute(request, trace);
    this.policy.authorize(session, trace, { method: Method.ResourcesSubscribe, server: route.server, uri: route.originalUri }, undefined, `Resource not found: ${uri}`, ErrorCode.ResourceNotFound);
    const backend = this.requireBackend(route.server);
    const { server, originalUri } = route;
    if (this.subscriptions.subscribersOf(server, originalUri).has(session.id)) return {};
    const first = this.subscriptions.add(server, originalUri, session.id, uri);
    const upstream = first ? backend.request(Method.ResourcesSubscribe, { uri: originalUri }) : this.subscriptions.pendingFor(server, originalUri);
    if (first) this.subscriptions.track(server, originalUri, upstream!);
    try {
      await upstream;
    } catch (error) {
      this.subscriptions.remove(server, originalUri, session.id);
      throw error;
    }
    return {};
  }

  /** After a backend restarts it knows no subscriptions; renew those clients still hold. */
  resubscribe(server: string, backend: Backend): void {
    for (const uri of this.subscriptions.urisOf(server)) {
      backend.request(Method.ResourcesSubscribe, { uri }).catch((error: unknown) => {
        log.warn({ server, uri, err: (error as Error).message }, "could not renew a resource subscription");
      });
    }
  }

  private async unsubscribe(session: ClientSession, request: JsonRpcRequest, trace: CallTrace): Promise<JsonObject> {
    const { route } = this.resourceRoute(request, trace);
    trace.route = { server: route.server, uri: route.originalUri };
    if (this.subscriptions.remove(route.server, route.originalUri, session.id)) {
      await this.requireBackend(route.server).request(Method.ResourcesUnsubscribe, { uri: route.originalUri });
    }
    return {};
  }

  private async complete(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, trace: CallTrace): Promise<JsonObject> {
    const params = request.params ?? {};
    const ref = asObject(params.ref);
    const table = this.deps.table();
    if (ref?.type === "ref/prompt" && typeof ref.name === "string") {
      const route = table.prompt(ref.name);
      if (route === undefined) throw new JsonRpcError(ErrorCode.InvalidParams, `Unknown prompt: ${ref.name}`);
      this.policy.authorize(session, trace, { method: Method.CompletionComplete, server: route.server, prompt: route.originalName }, undefined, `Unknown prompt: ${ref.name}`);
      return this.forward(session, request, stream, trace, route.server, Method.CompletionComplete, {
        ...params,
        ref: { ...ref, name: route.originalName },
      });
    }
    if (ref?.type === "ref/resource" && typeof ref.uri === "string") {
      const route = table.resource(ref.uri);
      if (route === undefined) throw new JsonRpcError(ErrorCode.InvalidParams, `Unknown resource template: ${ref.uri}`);
      this.policy.authorize(session, trace, { method: Method.CompletionComplete, server: route.server, uri: route.originalUri }, undefined, `Unknown resource template: ${ref.uri}`);
      return this.forward(session, request, stream, trace, route.server, Method.CompletionComplete, {
        ...params,
        ref: { ...ref, uri: route.originalUri },
      });
    }
    throw new JsonRpcError(ErrorCode.InvalidParams, "completion/complete needs ref {type: ref/prompt, name} or {type: ref/resource, uri}");
  }

  /** Levels are per client; backends are shared, so they get the most verbose level any client asked for. */
  private async setLogLevel(session: ClientSession, request: JsonRpcRequest): Promise<JsonObject> {
    const level = request.params?.level;
    if (typeof level !== "string" || !(LOG_LEVELS as readonly string[]).includes(level)) {
      throw new JsonRpcError(ErrorCode.InvalidParams, `level must be one of: ${LOG_LEVELS.join(", ")}`);
    }
    session.logLevel = level as LogLevel;
    this.deps.sessions.logLevelChanged(session, level as LogLevel);
    let mostVerbose = LOG_LEVELS.length - 1;
    for (const s of this.deps.sessions.local.values()) if (s.logLevel) mostVerbose = Math.min(mostVerbose, LOG_LEVELS.indexOf(s.logLevel));
    const backendLevel = LOG_LEVELS[mostVerbose];
    await Promise.allSettled(
      [...this.deps.backends().values()]
        .filter((b) => b.state === "ready" && b.capabilities?.logging !== undefined)
        .map((b) => b.request(Method.LoggingSetLevel, { level: backendLevel })),
    );
    return {};
  }

  private resourceRoute(request: JsonRpcRequest, trace: CallTrace) {
    const uri = request.params?.uri;
    if (typeof uri !== "string") throw new JsonRpcError(ErrorCode.InvalidParams, `${request.method} needs params.uri (a string)`);
    trace.route = { uri };
    const route = this.deps.table().resource(uri);
    if (route === undefined) throw new JsonRpcError(ErrorCode.ResourceNotFound, `Resource not found: ${uri}`, { uri });
    return { uri, route };
  }

  private requireBackend(server: string): Backend {
    const backend = this.deps.backends().get(server);
    if (backend === undefined) throw new JsonRpcError(ErrorCode.BackendUnavailable, `server "${server}" is not configured`);
    return backend;
  }

  private backendIfReady(server: string): Backend | undefined {
    const backend = this.deps.backends().get(server);
    return backend?.state === "ready" ? backend : undefined;
  }

  /** Sends to the owning backend with the client's id, progress token and cancellation mapped. */
  private async forward(
    session: ClientSession,
    request: JsonRpcRequest,
    stream: RelatedStream,
    trace: CallTrace,
    server: string,
    method: string,
    params: JsonObject,
  ): Promise<JsonObject> {
    const backend = this.requireBackend(server);
    const meta = asObject(params._meta);
    const call = this.inflight.begin(session, server, request.id, stream, meta?.progressToken);
    if (call === undefined) {
      throw new JsonRpcError(ErrorCode.InvalidRequest, `request id ${JSON.stringify(request.id)} is already in use by a call in flight`);
    }
    try {
      const limited = this.rateLimits.admit(session, trace, { method, server, tool: method === Method.ToolsCall ? (params.name as string) : undefined });
      if (limited !== undefined) await limited;
      const upstreamParams =
        call.upstreamProgressToken === undefined ? params : { ...params, _meta: { ...meta, progressToken: call.upstreamProgressToken } };
      const pendingAssertion = this.deps.assertionFor?.(server, session.identity);
      const options = { owner: call, signal: call.controller.signal, ...(pendingAssertion ? { assertion: await pendingAssertion } : {}) };
      const sentAt = performance.now();
      try {
        return await backend.request(method, upstreamParams, options);
      } finally {
        trace.upstreamUs = Math.round((performance.now() - sentAt) * 1000);
      }
    } finally {
      this.inflight.end(call);
    }
  }
}
