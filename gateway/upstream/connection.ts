/**
 * The JSON-RPC peer over one transport instance (one child process, one HTTP session): upstream id allocation,
 * response correlation, per-call timeouts kept alive by progress, cancellation both ways, and dispatch of what
 * the backend sends on its own (notifications, server-to-client requests). Supervision lives in backend.ts.
 */
import {
  ErrorCode,
  JsonRpcError,
  Method,
  asObject,
  classify,
  failure,
  notification,
  success,
  type CatalogKind,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
} from "../protocol/index.ts";
import type { Logger } from "../log.ts";
import type { CallOwner } from "./types.ts";
import { TransportClosedError, type TransportClosed, type UpstreamTransport } from "./transport.ts";

/** Progress may keep a call alive, but not forever: at most this many timeouts in total. */
const PROGRESS_EXTENSION_CAP = 10;

const LIST_CHANGED_KIND = new Map<string, CatalogKind>([
  [Method.ToolsListChanged, "tools"],
  [Method.PromptsListChanged, "prompts"],
  [Method.ResourcesListChanged, "resources"],
]);

export interface PeerOptions {
  server: string;
  transport: UpstreamTransport;
  log: Logger;
  /** Shared across reconnects so a late answer from an old connection can never match a new call. */
  nextId: () => number;
  onNotification(message: JsonRpcNotification, owner: CallOwner | undefined): void;
  onServerRequest(message: JsonRpcRequest, owners: CallOwner[], signal: AbortSignal): Promise<JsonObject>;
  onListChanged(kind: CatalogKind): void;
  /** The transport dropped; pending calls have already been rejected. */
  onClosed(closed: TransportClosed): void;
}

export interface PeerCallOptions {
  owner?: CallOwner | undefined;
  signal?: AbortSignal | undefined;
  timeoutMs: number;
  headers?: Record<string, string> | undefined;
}

type ProgressToken = string | number;

interface PendingCall {
  id: number;
  method: string;
  owner: CallOwner | undefined;
  timeoutMs: number;
  /** Progress cannot push the deadline past this. */
  hardDeadline: number;
  timer: NodeJS.Timeout;
  progressToken: ProgressToken | undefined;
  resolve(result: JsonObject): void;
  reject(error: Error): void;
  cleanup(): void;
}

export class Peer {
  private readonly options: PeerOptions;
  private readonly transport: UpstreamTransport;
  private readonly pending = new Map<number, PendingCall>();
  private readonly byProgressToken = new Map<ProgressToken, Set<PendingCall>>();
  /** Server-to-client requests we are answering, by the backend's id, so its notifications/cancelled can abort them. */
  private readonly serving = new Map<JsonRpcId, AbortController>();
  private closedInfo: TransportClosed | undefined;

  constructor(options: PeerOptions) {
    this.options = options;
    this.transport = options.transport;
    this.transport.onmessage = (value, related) => this.receive(value, related);
    this.transport.onclose = (closed) => this.dropped(closed);
    this.transport.onresponselost = (id, reason) => {
      const call = typeof id === "number" ? this.pending.get(id) : undefined;
      if (call !== undefined) this.settle(call, new JsonRpcError(ErrorCode.BackendClosed, `server "${options.server}" ${reason} before answering ${call.method}`));
    };
  }

  get inFlight(): number {
    return this.pending.size;
  }

  /** Why the transport went away, if it did. */
  get closed(): TransportClosed | undefined {
    return this.closedInfo;
  }

  request(method: string, params: JsonObject | undefined, options: PeerCallOptions): Promise<JsonObject> {
    const { server } = this.options;
    if (this.closedInfo !== undefined) return Promise.reject(this.closedError(method));
    if (options.signal?.aborted) return Promise.reject(cancelledError(server, method));
    const id = this.options.nextId();
    const message: JsonRpcRequest = params === undefined ? { jsonrpc: "2.0", id, method } : { jsonrpc: "2.0", id, method, params };
    const token = progressTokenOf(params);
    return new Promise<JsonObject>((resolve, reject) => {
      const onAbort = (): void => {
        this.sendCancel(id, "the client cancelled the request");
        this.settle(call, cancelledError(server, method));
      };
      const call: PendingCall = {
        id,
        method,
        owner: options.owner,
        timeoutMs: options.timeoutMs,
        hardDeadline: Date.now() + options.timeoutMs * PROGRESS_EXTENSION_CAP,
        timer: setTimeout(() => this.timedOut(call, options.timeoutMs), options.timeoutMs),
        progressToken: token,
        resolve,
        reject,
        cleanup: () => options.signal?.removeEventListener("abort", onAbort),
      };
      call.timer.unref();
      this.pending.set(id, call);
      if (token !== undefined) this.indexToken(token, call);
      options.signal?.addEventListener("abort", onAbort, { once: true });
      this.transport.send(message, options.headers).catch((error: unknown) => {
        if (!this.pending.has(id)) return;
        this.settle(call, error instanceof TransportClosedError ? this.closedError(method, error.closed) : (error as Error));
      });
    });
  }

  /** Fire and forget; a failed delivery is logged, never thrown (notifications have no answer to fail). */
  notify(method: string, params?: JsonObject): void {
    this.sendQuietly(notification(method, params));
  }

  /** For notifications/initialized: the handshake must not race the first list requests on HTTP. */
  notifyAndWait(method: string, params?: JsonObject): Promise<void> {
    return this.transport.send(notification(method, params));
  }

  /** Distinct owners (by sessionId) of the calls in flight, for server requests we cannot attribute exactly. */
  ownersInFlight(): CallOwner[] {
    const seen = new Map<string, CallOwner>();
    for (const call of this.pending.values()) if (call.owner !== undefined) seen.set(call.owner.sessionId, call.owner);
    return [...seen.values()];
  }

  /** Rejects everything in flight with this reason; used when the backend is stopped or replaced. */
  failAll(closed: TransportClosed): void {
    if (this.closedInfo === undefined) this.closedInfo = closed;
    for (const call of [...this.pending.values()]) this.settle(call, this.closedError(call.method, closed));
    for (const controller of this.serving.values()) controller.abort(new Error(closed.summary));
    this.serving.clear();
  }

  private dropped(closed: TransportClosed): void {
    if (this.closedInfo !== undefined) return;
    this.failAll(closed);
    this.options.onClosed(closed);
  }

  private receive(value: unknown, relatedRequestId: JsonRpcId | undefined): void {
    const classified = classify(value);
    switch (classified.kind) {
      case "response":
        this.answered(classified.message);
        return;
      case "notification":
        this.notified(classified.message, relatedRequestId);
        return;
      case "request":
        this.served(classified.message, relatedRequestId);
        return;
      case "invalid":
        this.invalid(value, classified.reason, classified.id);
    }
  }

  /** A broken answer fails its call at once (rather than at its timeout); a broken request gets an error back. */
  private invalid(value: unknown, reason: string, id: JsonRpcId | null): void {
    this.options.log.warn({ reason, id }, "backend sent an invalid JSON-RPC message");
    const call = typeof id === "number" ? this.pending.get(id) : undefined;
    const isRequest = typeof value === "object" && value !== null && "method" in value;
    if (call !== undefined && !isRequest) {
      const message = `server "${this.options.server}" sent an invalid answer to ${call.method}: ${reason}`;
      this.settle(call, new JsonRpcError(ErrorCode.InternalError, message));
    } else if (id !== null && isRequest) {
      this.sendQuietly(failure(id, { code: ErrorCode.InvalidRequest, message: reason }));
    }
  }

  private answered(response: JsonRpcResponse): void {
    const call = typeof response.id === "number" ? this.pending.get(response.id) : undefined;
    if (call === undefined) {
      this.options.log.debug({ id: response.id }, "response for no pending call (late, or already timed out)");
      return;
    }
    if ("error" in response) {
      const { code, message, data } = response.error;
      this.settle(call, new JsonRpcError(code, message, data));
    } else {
      this.settle(call, undefined, response.result);
    }
  }

  private notified(message: JsonRpcNotification, relatedRequestId: JsonRpcId | undefined): void {
    const kind = LIST_CHANGED_KIND.get(message.method);
    if (kind !== undefined) {
      this.options.onListChanged(kind);
      return;
    }
    if (message.method === Method.Cancelled) {
      const requestId = message.params?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number") {
        this.serving.get(requestId)?.abort(new Error(String(message.params?.reason ?? "cancelled by the server")));
      }
      return;
    }
    let owner = this.ownerOf(relatedRequestId);
    if (message.method === Method.Progress) {
      const token = message.params?.progressToken;
      const calls = typeof token === "string" || typeof token === "number" ? this.byProgressToken.get(token) : undefined;
      if (calls !== undefined) {
        for (const call of calls) this.extend(call);
        // stdio cannot relate messages to requests, but a progress token held by exactly one call can.
        if (owner === undefined && calls.size === 1) owner = calls.values().next().value?.owner;
      }
    }
    this.options.onNotification(message, owner);
  }

  private served(message: JsonRpcRequest, relatedRequestId: JsonRpcId | undefined): void {
    if (message.method === Method.Ping) {
      this.sendQuietly(success(message.id, {}));
      return;
    }
    if (this.serving.has(message.id)) {
      this.options.log.warn({ id: message.id, method: message.method }, "backend reused the id of a request still being served");
      return;
    }
    const exact = this.ownerOf(relatedRequestId);
    const owners = exact !== undefined ? [exact] : this.ownersInFlight();
    const controller = new AbortController();
    this.serving.set(message.id, controller);
    Promise.resolve()
      .then(() => this.options.onServerRequest(message, owners, controller.signal))
      .then(
        (result) => success(message.id, result),
        (error: unknown) => {
          if (!(error instanceof JsonRpcError)) {
            this.options.log.warn({ method: message.method, err: (error as Error)?.message }, "answering a server request failed");
          }
          return failure(message.id, JsonRpcError.from(error).toJSON());
        },
      )
      .then((answer) => {
        // A cancelled request must not be answered (MCP cancellation), and a dropped connection cannot be.
        if (!controller.signal.aborted) this.sendQuietly(answer);
      })
      .finally(() => {
        if (this.serving.get(message.id) === controller) this.serving.delete(message.id);
      });
  }

  private ownerOf(requestId: JsonRpcId | undefined): CallOwner | undefined {
    return typeof requestId === "number" ? this.pending.get(requestId)?.owner : undefined;
  }

  private extend(call: PendingCall): void {
    const remaining = call.hardDeadline - Date.now();
    clearTimeout(call.timer);
    if (remaining <= 0) {
      this.timedOut(call, call.timeoutMs * PROGRESS_EXTENSION_CAP);
      return;
    }
    const wait = Math.min(call.timeoutMs, remaining);
    call.timer = setTimeout(() => this.timedOut(call, wait === call.timeoutMs ? call.timeoutMs : call.timeoutMs * PROGRESS_EXTENSION_CAP), wait);
    call.timer.unref();
  }

  private timedOut(call: PendingCall, withinMs: number): void {
    if (this.pending.get(call.id) !== call) return;
    // MCP forbids cancelling initialize; the supervisor closes the connection instead.
    if (call.method !== Method.Initialize) this.sendCancel(call.id, `timed out after ${withinMs} ms`);
    this.settle(call, new JsonRpcError(ErrorCode.BackendTimeout, `server "${this.options.server}" did not answer ${call.method} within ${withinMs} ms`));
  }

  private sendCancel(id: number, reason: string): void {
    this.sendQuietly(notification(Method.Cancelled, { requestId: id, reason }));
    this.transport.abandon?.(id);
  }

  private settle(call: PendingCall, error: Error | undefined, result?: JsonObject): void {
    if (this.pending.get(call.id) !== call) return;
    this.pending.delete(call.id);
    clearTimeout(call.timer);
    call.cleanup();
    if (call.progressToken !== undefined) {
      const calls = this.byProgressToken.get(call.progressToken);
      calls?.delete(call);
      if (calls?.size === 0) this.byProgressToken.delete(call.progressToken);
    }
    if (error !== undefined) call.reject(error);
    else call.resolve(result ?? {});
  }

  private indexToken(token: ProgressToken, call: PendingCall): void {
    let calls = this.byProgressToken.get(token);
    if (calls === undefined) this.byProgressToken.set(token, (calls = new Set()));
    calls.add(call);
  }

  private sendQuietly(message: Parameters<UpstreamTransport["send"]>[0]): void {
    if (this.closedInfo !== undefined) return;
    this.transport.send(message).catch((error: unknown) => {
      this.options.log.debug({ err: (error as Error).message }, "could not deliver a message to the backend");
    });
  }

  private closedError(method: string, closed = this.closedInfo): JsonRpcError {
    const summary = closed?.summary ?? "closed";
    return new JsonRpcError(ErrorCode.BackendClosed, `server "${this.options.server}" ${summary} before answering ${method}`);
  }
}

function cancelledError(server: string, method: string): JsonRpcError {
  return new JsonRpcError(ErrorCode.Cancelled, `the ${method} call to server "${server}" was cancelled`);
}

function progressTokenOf(params: JsonObject | undefined): ProgressToken | undefined {
  const token = asObject(params?._meta)?.progressToken;
  return typeof token === "string" || typeof token === "number" ? token : undefined;
}
