/**
 * Stateless (2026-07-28) requests through the same pipeline as session ones: each request's `_meta` makes a
 * throwaway session, the dispatcher's handlers (policy, rate limits, audit) run unchanged, and the answer is
 * dressed for 2026-07-28. Calls a backend interrupts with a question go through MRTR (`input-rounds.ts`);
 * `subscriptions/listen` streams are `listeners.ts`.
 */
import { performance } from "node:perf_hooks";
import { ErrorCode, JsonRpcError, META, Method, asObject, failure, nameHeaderSource, success, type JsonRpcRequest, type JsonRpcResponse } from "../protocol/index.ts";
import type { ClientSession, OutboundChannel } from "../session/index.ts";
import type { Backend } from "../upstream/index.ts";
import type { Dispatcher } from "./dispatcher.ts";
import type { RelatedStream } from "./inflight.ts";
import type { RequestContext } from "./audit-stage.ts";
import { InputRounds, type Round } from "./input-rounds.ts";
import { Listeners, MAX_LISTENERS_PER_PRINCIPAL, listenChannel, parseListenFilter, type ListenFilter } from "./listeners.ts";
import { INPUT_METHODS, ModernMethod, discoverResult, modernResponse, type CacheScope } from "./modern.ts";

export interface ModernDeps {
  dispatcher: Dispatcher;
  backends: () => ReadonlyMap<string, Backend>;
  /** Whether a policy decides per agent: then lists (and reads) are `cacheScope: private`. */
  perAgentPolicy: () => boolean;
  replicaId: string;
  inputTimeoutMs?: number;
}

const NO_STREAM: RelatedStream = { send: () => false };

export class ModernRequests {
  readonly rounds: InputRounds;
  readonly listeners = new Listeners();
  private readonly deps: ModernDeps;

  constructor(deps: ModernDeps) {
    this.deps = deps;
    this.rounds = new InputRounds({ replicaId: deps.replicaId, ...(deps.inputTimeoutMs === undefined ? {} : { timeoutMs: deps.inputTimeoutMs }) });
  }

  private scope(): CacheScope {
    return this.deps.perAgentPolicy() ? "private" : "public";
  }

  /**
   * One request (not `subscriptions/listen`), answered and recorded. `onAbandon` receives what to call if the
   * client closes its stream before the answer: 2026-07-28's cancellation.
   */
  async handle(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, context: RequestContext, onAbandon: (abandon: (reason: string) => void) => void): Promise<JsonRpcResponse> {
    const { dispatcher } = this.deps;
    const startedAt = performance.now();
    if (request.method === ModernMethod.Discover) {
      const response = success(request.id, discoverResult(this.deps.backends().values(), this.scope()));
      return dispatcher.audit.request(session, request, {}, response, startedAt, context);
    }
    const dress = (response: JsonRpcResponse) => modernResponse(request.method, response, this.scope());
    if (!INPUT_METHODS.has(request.method)) {
      onAbandon((reason) => dispatcher.inflight.abortSession(session.id, reason));
      try {
        return await dispatcher.handleRequest(session, request, stream, { ...context, shape: dress });
      } finally {
        this.release(session);
      }
    }
    const params = request.params ?? {};
    const name = nameHeaderSource(request.method, params);
    const retry = params.requestState !== undefined;
    let answer: { response: JsonRpcResponse; final: boolean };
    let round: Round | undefined;
    try {
      if (retry && dispatcher.audit.unavailable() !== undefined) throw new JsonRpcError(ErrorCode.AuditUnavailable, "the audit log is unavailable, so this request is refused unrecorded");
      round = retry
        ? this.rounds.resume(session, { id: request.id, method: request.method, name, arguments: params.arguments, params }, stream)
        : this.rounds.begin(
            session,
            { id: request.id, method: request.method, name, arguments: params.arguments },
            stream,
            // A call that asked the client something answers a retry, and an MRTR retry's result must not be cached.
            (st, asked) => this.run(session, request, st, { ...context, shape: (response) => (asked() ? uncached(dress(response)) : dress(response)) }),
            (reason) => dispatcher.inflight.abortSession(session.id, reason),
          );
      onAbandon(round.abandon);
      answer = await round.answer;
    } catch (error) {
      answer = { response: failure(request.id, JsonRpcError.from(error).toJSON()), final: false };
    }
    // The call's own answer was dressed and recorded by the dispatcher; a question round or a refused retry is here.
    if (answer.final) return answer.response;
    const response = await dispatcher.audit.request(session, request, { route: routeOf(request) }, dress(answer.response), startedAt, context);
    // A question nobody can be told about (its record failed) must not keep the backend call waiting for 5 minutes.
    if ("error" in response && "result" in answer.response) round?.abandon("the audit log could not record the question round");
    return response;
  }

  /** The call itself: the client's MRTR fields stay at the gateway (the backend's own exchange is not the client's). */
  private async run(session: ClientSession, request: JsonRpcRequest, stream: RelatedStream, context: RequestContext): Promise<JsonRpcResponse> {
    const { inputResponses: _responses, requestState: _state, ...params } = request.params ?? {};
    try {
      return await this.deps.dispatcher.handleRequest(session, { ...request, params }, stream, context);
    } finally {
      this.release(session);
    }
  }

  /** A per-session backend instance started for this stateless request ends with it (nothing else would end it). */
  private release(session: ClientSession): void {
    for (const backend of this.deps.backends().values()) backend.releaseSession?.(session.id, true);
  }

  /**
   * Opens a listen stream on `sink`: subscribes what the client asked for (policy and audit apply per URI),
   * acknowledges what is honoured, then delivers. A malformed filter is an error response instead.
   */
  async listen(session: ClientSession, request: JsonRpcRequest, sink: OutboundChannel, context: RequestContext): Promise<JsonRpcResponse | undefined> {
    const { dispatcher } = this.deps;
    const startedAt = performance.now();
    const refuse = (code: number, message: string) => dispatcher.audit.request(session, request, {}, failure(request.id, { code, message }), startedAt, context);
    const filter = parseListenFilter(request.params);
    if (typeof filter === "string") return refuse(ErrorCode.InvalidParams, `Invalid params: ${filter}`);
    if (dispatcher.isDraining) return refuse(ErrorCode.ShuttingDown, "gateway is shutting down; listen on another replica");
    if (!this.listeners.admits(session)) return refuse(ErrorCode.InvalidRequest, `Invalid Request: this agent already has ${MAX_LISTENERS_PER_PRINCIPAL} listen streams open here`);
    const honoured: ListenFilter = { ...filter };
    delete honoured.resourceSubscriptions;
    const uris: string[] = [];
    for (const uri of filter.resourceSubscriptions ?? []) {
      const subscribe: JsonRpcRequest = { jsonrpc: "2.0", id: request.id, method: Method.ResourcesSubscribe, params: { uri } };
      const outcome = await dispatcher.handleRequest(session, subscribe, NO_STREAM, context);
      if ("result" in outcome) uris.push(uri);
    }
    if (uris.length > 0) honoured.resourceSubscriptions = uris;
    const recorded = await dispatcher.audit.request(session, request, {}, success(request.id, {}), startedAt, context);
    if ("error" in recorded) {
      dispatcher.sessionEnded(session);
      return recorded;
    }
    sink.send({ jsonrpc: "2.0", method: ModernMethod.Acknowledged, params: { _meta: { [META.subscriptionId]: request.id }, notifications: { ...honoured } } });
    session.attachStandalone(listenChannel(request.id, honoured, sink));
    this.listeners.add(session, () => sink.send(success(request.id, { resultType: "complete", _meta: { [META.subscriptionId]: request.id } })));
    return undefined;
  }

  /** The listen stream closed (client gone, or shutdown): its subscriptions end with it. */
  listenerClosed(session: ClientSession): void {
    if (!this.listeners.delete(session)) return;
    this.deps.dispatcher.sessionEnded(session);
    this.release(session);
    session.close();
  }

  close(): void {
    this.rounds.closeAll("gateway is shutting down");
    this.listeners.endAll();
    for (const session of [...this.listeners.all()]) this.listenerClosed(session);
  }
}

/** 2026-07-28 caching: a result delivered to an MRTR retry is not to be cached. */
function uncached(response: JsonRpcResponse): JsonRpcResponse {
  return "result" in response && typeof response.result.ttlMs === "number" ? { ...response, result: { ...response.result, ttlMs: 0, cacheScope: "private" } } : response;
}

function routeOf(request: JsonRpcRequest): { tool?: string; prompt?: string; uri?: string } {
  const params = asObject(request.params) ?? {};
  if (request.method === Method.ToolsCall) return { tool: params.name as string };
  if (request.method === Method.PromptsGet) return { prompt: params.name as string };
  return { uri: params.uri as string };
}
