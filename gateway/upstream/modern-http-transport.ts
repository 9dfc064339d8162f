/**
 * A backend that speaks MCP 2026-07-28 (stateless) over Streamable HTTP, presented to connection.ts and backend.ts
 * as a 2025-style peer: initialize, ping, logging/setLevel and resources/(un)subscribe are answered here;
 * list_changed and resources/updated arrive on a subscriptions/listen stream; every request carries its version,
 * client info and capabilities in `_meta` plus the Mcp-* headers; MRTR input requests become server-to-client
 * requests (modern-rounds.ts).
 */
import {
  ErrorCode,
  JsonRpcError,
  META,
  Method,
  asObject,
  classify,
  failure,
  notification,
  success,
  type ClientCapabilities,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../protocol/index.ts";
import { LATEST_MODERN_VERSION, MCP_HEADER, encodeHeaderValue, headerParamsOf, headerValuesOf, nameHeaderSource, type HeaderParam } from "../protocol/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { buildHeaders, closeAgent, createPool } from "./http-common.ts";
import { ListenStream } from "./modern-listen.ts";
import {
  ResponseLostError,
  discoverRequest,
  parseDiscover,
  postRequest,
  protocolHeaders,
  runRounds,
  serverInfoOf,
  type DiscoverResult,
  type HttpTarget,
} from "./modern-rounds.ts";
import { TransportClosedError, noop, reasonOf, type TransportClosed, type UpstreamTransport } from "./transport.ts";

/** A HeaderMismatch recovery reads at most this many tools/list pages. */
const MAX_RELEARN_PAGES = 100;

export interface ModernOptions {
  clientInfo: { name: string; version: string };
  clientCapabilities: ClientCapabilities;
}

interface PendingInput {
  resolve(result: JsonObject): void;
  reject(error: JsonRpcError): void;
}

export class ModernHttpTransport implements UpstreamTransport {
  onmessage: UpstreamTransport["onmessage"] = noop;
  onclose: UpstreamTransport["onclose"] = noop;
  onresponselost: NonNullable<UpstreamTransport["onresponselost"]> = noop;

  private readonly config: HttpServerConfig;
  private readonly log: Logger;
  private readonly http: HttpTarget;
  private readonly lifetime = new AbortController();
  /** Per original request id: aborting it closes whichever POST of its exchange is open (2026 cancellation). */
  private readonly exchanges = new Map<JsonRpcId, AbortController>();
  /** MRTR questions relayed up as `mrtr-<n>` requests, waiting for the peer's answer. */
  private readonly inputs = new Map<string, PendingInput>();
  /** Tool name → its Mcp-Param headers, learnt from the tools/list results passing through. */
  private readonly toolHeaders = new Map<string, HeaderParam[]>();
  private readonly subscriptions = new Set<string>();
  private clientInfo: { name: string; version: string };
  private clientCapabilities: ClientCapabilities;
  private logLevel: string | undefined;
  private discovered: DiscoverResult | undefined;
  private readonly listen: ListenStream;
  private listening = false;
  private counter = 0;
  private closedInfo: TransportClosed | undefined;
  private stopping = false;

  constructor(config: HttpServerConfig, log: Logger, options: ModernOptions) {
    this.config = config;
    this.log = log;
    const url = new URL(config.url);
    this.http = { pool: createPool(url.origin), path: url.pathname + url.search };
    this.clientInfo = options.clientInfo;
    this.clientCapabilities = options.clientCapabilities;
    this.listen = new ListenStream({
      http: this.http,
      log,
      lifetime: this.lifetime.signal,
      filter: () => this.filter(),
      request: (id, filter) => ({ jsonrpc: "2.0", id, method: "subscriptions/listen", params: { _meta: this.meta(undefined), notifications: filter } }),
      headers: (message) => this.requestHeaders(message, undefined),
      deliver: (message) => this.onmessage(message),
      lost: (closed) => this.fail(closed),
    });
  }

  async start(): Promise<void> {
    let answer: JsonRpcResponse;
    try {
      answer = await this.discover(this.lifetime.signal);
    } catch (error) {
      if (error instanceof TransportClosedError) throw error;
      throw new Error(`server/discover failed: ${reasonOf(error)}`);
    }
    const parsed = parseDiscover(answer);
    if (!parsed.ok) throw new Error(`not a ${LATEST_MODERN_VERSION} server: ${parsed.reason}`);
    this.discovered = parsed.result;
  }

  async send(message: JsonRpcMessage, headers?: Record<string, string>): Promise<void> {
    if (this.closedInfo !== undefined || this.stopping) throw new TransportClosedError(this.closedInfo ?? { summary: "was stopped", cause: "stopped" });
    const classified = classify(message);
    if (classified.kind === "response") return this.answered(classified.message);
    if (classified.kind === "notification") return this.notified(classified.message);
    if (classified.kind !== "request") return;
    const request = classified.message;
    switch (request.method) {
      case Method.Initialize:
        return this.initialize(request);
      case Method.Ping:
        return this.ping(request);
      case Method.LoggingSetLevel:
        this.logLevel = typeof request.params?.level === "string" ? request.params.level : undefined;
        return this.deliver(success(request.id, {}));
      case Method.ResourcesSubscribe:
      case Method.ResourcesUnsubscribe:
        return this.subscription(request);
      default:
        return this.forward(request, headers);
    }
  }

  abandon(requestId: JsonRpcId): void {
    this.exchanges.get(requestId)?.abort();
  }

  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.abortAll();
    await closeAgent(this.http.pool);
  }

  private initialize(request: JsonRpcRequest): void {
    const params = request.params ?? {};
    const capabilities = asObject(params.capabilities);
    if (capabilities !== undefined) this.clientCapabilities = capabilities as ClientCapabilities;
    const info = asObject(params.clientInfo);
    if (info !== undefined && typeof info.name === "string" && typeof info.version === "string") this.clientInfo = { name: info.name, version: info.version };
    const discovered = this.discovered;
    if (discovered === undefined) return this.deliver(failure(request.id, { code: ErrorCode.InternalError, message: "initialize before server/discover" }));
    const result: JsonObject = { protocolVersion: LATEST_MODERN_VERSION, capabilities: discovered.capabilities, serverInfo: serverInfoOf(discovered, this.config.name) };
    if (discovered.instructions !== undefined) result.instructions = discovered.instructions;
    this.deliver(success(request.id, result));
  }

  /** 2026 has no ping; a successful server/discover proves the server is there and answering. */
  private async ping(request: JsonRpcRequest): Promise<void> {
    const controller = this.track(request.id);
    try {
      const answer = await this.discover(AbortSignal.any([this.lifetime.signal, controller.signal]));
      const parsed = parseDiscover(answer);
      this.deliver(parsed.ok ? success(request.id, {}) : failure(request.id, { code: ErrorCode.InternalError, message: parsed.reason }));
    } catch (error) {
      if (controller.signal.aborted || this.lifetime.signal.aborted) return;
      this.deliver(failure(request.id, { code: ErrorCode.InternalError, message: `server/discover failed: ${reasonOf(error)}` }));
    } finally {
      this.untrack(request.id, controller);
    }
  }

  private async subscription(request: JsonRpcRequest): Promise<void> {
    const uri = request.params?.uri;
    if (typeof uri !== "string") return this.deliver(failure(request.id, { code: ErrorCode.InvalidParams, message: `${request.method} needs params.uri` }));
    const subscribe = request.method === Method.ResourcesSubscribe;
    if (subscribe && this.discovered?.capabilities.resources?.subscribe !== true) {
      return this.deliver(failure(request.id, { code: ErrorCode.MethodNotFound, message: `server "${this.config.name}" does not offer resource subscriptions` }));
    }
    const changed = subscribe ? !this.subscriptions.has(uri) : this.subscriptions.has(uri);
    if (subscribe) this.subscriptions.add(uri);
    else this.subscriptions.delete(uri);
    // Answered once the server acknowledged the new filter, so an update right after cannot slip past.
    if (changed && this.listening) await this.listen.open();
    this.deliver(success(request.id, {}));
  }

  /** Answers from the peer: only those to the MRTR questions we relayed exist. */
  private answered(response: JsonRpcResponse): void {
    const pending = typeof response.id === "string" ? this.inputs.get(response.id) : undefined;
    if (pending === undefined) return;
    this.inputs.delete(response.id as string);
    if ("error" in response) pending.reject(new JsonRpcError(response.error.code, response.error.message, response.error.data));
    else pending.resolve(response.result);
  }

  private notified(message: JsonRpcNotification): void {
    if (message.method === Method.Initialized) {
      this.listening = true;
      void this.listen.open();
    } else if (message.method === Method.Cancelled) {
      const requestId = message.params?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number") this.abandon(requestId);
    }
    // 2026 defines no other client notification (roots list_changed and progress are gone): dropped.
  }

  private async forward(request: JsonRpcRequest, extraHeaders: Record<string, string> | undefined): Promise<void> {
    const controller = this.track(request.id);
    const signal = AbortSignal.any([this.lifetime.signal, controller.signal]);
    const original: JsonRpcRequest = { ...request, params: { ...request.params, _meta: this.meta(asObject(request.params?._meta)) } };
    const post = (attempt: JsonRpcRequest, attemptSignal: AbortSignal): Promise<JsonRpcResponse> =>
      postRequest(this.http, this.requestHeaders(attempt, extraHeaders), attempt, attemptSignal, (note) => this.onmessage(note, request.id));
    let relearned = false;
    try {
      const answer = await runRounds(
        {
          server: this.config.name,
          // The spec's recovery for HeaderMismatch on tools/call: the tool's schema may have changed unannounced.
          post: async (attempt, attemptSignal) => {
            const first = await post(attempt, attemptSignal);
            if (relearned || attempt.method !== Method.ToolsCall || !("error" in first) || first.error.code !== ErrorCode.HeaderMismatch) return first;
            relearned = true;
            return (await this.relearnTools(attemptSignal)) ? post(attempt, attemptSignal) : first;
          },
          ask: (method, params, askSignal) => this.ask(request.id, method, params, askSignal),
          retryId: () => `${String(request.id)}-retry-${++this.counter}`,
        },
        original,
        signal,
      );
      if (!signal.aborted) this.deliver(request.method === Method.ToolsList ? this.learnTools(answer) : answer);
    } catch (error) {
      if (this.lifetime.signal.aborted) throw new TransportClosedError(this.closedInfo ?? { summary: "was stopped", cause: "stopped" });
      if (signal.aborted) return;
      if (error instanceof ResponseLostError) return this.onresponselost(request.id, error.message);
      throw error;
    } finally {
      this.untrack(request.id, controller);
    }
  }

  /** One MRTR input request, relayed up as a server-to-client request related to the call that needs it. */
  private ask(related: JsonRpcId, method: string, params: JsonObject | undefined, signal: AbortSignal): Promise<JsonObject> {
    const id = `mrtr-${++this.counter}`;
    let relayed = params;
    // 2025-11-25 clients require elicitationId on URL-mode elicitation; 2026 dropped the field.
    if (method === Method.ElicitationCreate && params?.mode === "url" && params.elicitationId === undefined) relayed = { ...params, elicitationId: id };
    return new Promise<JsonObject>((resolve, reject) => {
      const withdraw = (): void => {
        if (!this.inputs.delete(id)) return;
        this.onmessage(notification(Method.Cancelled, { requestId: id, reason: "the request needing this input was cancelled" }), related);
        reject(signal.reason);
      };
      const done = (): void => signal.removeEventListener("abort", withdraw);
      this.inputs.set(id, {
        resolve: (result) => (done(), resolve(result)),
        reject: (error) => (done(), reject(error)),
      });
      signal.addEventListener("abort", withdraw, { once: true });
      const message: JsonRpcRequest = relayed === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params: relayed };
      this.onmessage(message, related);
    });
  }

  /**
   * Remembers each tool's Mcp-Param headers. A tool whose x-mcp-header annotations are invalid is left out of the
   * list: the spec requires HTTP clients to exclude it, since its calls could not carry correct headers.
   */
  private learnTools(answer: JsonRpcResponse): JsonRpcResponse {
    if (!("result" in answer) || !Array.isArray(answer.result.tools)) return answer;
    const tools = answer.result.tools.filter((value: unknown) => {
      const tool = asObject(value);
      if (tool === undefined || typeof tool.name !== "string") return true;
      const params = headerParamsOf(tool.inputSchema);
      if (!params.ok) {
        this.log.warn({ tool: tool.name, reason: params.reason }, "excluding a tool with invalid x-mcp-header annotations");
        this.toolHeaders.delete(tool.name);
        return false;
      }
      if (params.params.length > 0) this.toolHeaders.set(tool.name, params.params);
      else this.toolHeaders.delete(tool.name);
      return true;
    });
    return { ...answer, result: { ...answer.result, tools } };
  }

  /** Lists the tools again to learn their Mcp-Param headers; the peer is told to refetch too. False on failure. */
  private async relearnTools(signal: AbortSignal): Promise<boolean> {
    let cursor: unknown;
    for (let page = 0; page < MAX_RELEARN_PAGES; page++) {
      const params: JsonObject = { _meta: this.meta(undefined) };
      if (typeof cursor === "string") params.cursor = cursor;
      const message: JsonRpcRequest = { jsonrpc: "2.0", id: `relearn-${++this.counter}`, method: Method.ToolsList, params };
      const answer = await postRequest(this.http, this.requestHeaders(message, undefined), message, signal, noop).catch(() => undefined);
      if (answer === undefined || !("result" in answer)) return false;
      this.learnTools(answer);
      cursor = answer.result.nextCursor;
      if (typeof cursor !== "string") break;
    }
    this.log.info("a tools/call was refused for its headers; relearnt the tool schemas and retrying once");
    this.onmessage(notification(Method.ToolsListChanged));
    return true;
  }

  private meta(from: JsonObject | undefined): JsonObject {
    const meta: JsonObject = {
      ...from,
      [META.protocolVersion]: LATEST_MODERN_VERSION,
      [META.clientInfo]: this.clientInfo,
      [META.clientCapabilities]: this.clientCapabilities,
    };
    if (this.logLevel !== undefined) meta[META.logLevel] = this.logLevel;
    return meta;
  }

  private requestHeaders(message: JsonRpcRequest, extra: Record<string, string> | undefined): Record<string, string> {
    const mcp: Record<string, string> = protocolHeaders(message.method);
    const name = nameHeaderSource(message.method, message.params);
    if (name !== undefined) mcp[MCP_HEADER.name] = encodeHeaderValue(name);
    const params = message.method === Method.ToolsCall && name !== undefined ? this.toolHeaders.get(name) : undefined;
    if (params !== undefined) {
      for (const [suffix, value] of headerValuesOf(params, message.params?.arguments)) mcp[MCP_HEADER.paramPrefix + suffix.toLowerCase()] = value;
    }
    // The identity assertion is per call; the protocol's own headers still win over anything configured.
    return buildHeaders(extra === undefined ? this.config.headers : { ...this.config.headers, ...extra }, mcp);
  }

  private discover(signal: AbortSignal): Promise<JsonRpcResponse> {
    const meta = this.meta(undefined);
    const message = discoverRequest(`discover-${++this.counter}`, meta);
    return postRequest(this.http, buildHeaders(this.config.headers, protocolHeaders(message.method)), message, signal, noop);
  }

  /** The notifications worth listening for: list changes the server declared, and resource subscriptions. */
  private filter(): JsonObject | undefined {
    const capabilities = this.discovered?.capabilities ?? {};
    const filter: JsonObject = {};
    if (capabilities.tools?.listChanged === true) filter.toolsListChanged = true;
    if (capabilities.prompts?.listChanged === true) filter.promptsListChanged = true;
    if (capabilities.resources?.listChanged === true) filter.resourcesListChanged = true;
    if (this.subscriptions.size > 0) filter.resourceSubscriptions = [...this.subscriptions];
    return Object.keys(filter).length > 0 ? filter : undefined;
  }

  private deliver(message: JsonRpcResponse): void {
    this.onmessage(message);
  }

  private track(id: JsonRpcId): AbortController {
    const controller = new AbortController();
    this.exchanges.set(id, controller);
    return controller;
  }

  private untrack(id: JsonRpcId, controller: AbortController): void {
    if (this.exchanges.get(id) === controller) this.exchanges.delete(id);
  }

  private abortAll(): void {
    this.lifetime.abort();
    for (const controller of this.exchanges.values()) controller.abort();
    this.exchanges.clear();
  }

  /** Only the listen stream's connection failing ends the transport; a single request's failure is its own. */
  private fail(closed: TransportClosed): void {
    if (this.closedInfo !== undefined || this.stopping) return;
    this.closedInfo = closed;
    this.abortAll();
    this.log.warn({ cause: closed.cause }, "backend connection lost");
    this.onclose(closed);
  }
}

