/**
 * MRTR (2026-07-28) in front of backends that still send server-to-client requests. A stateless client cannot
 * receive a request mid-call, so the gateway holds the backend call open itself: when the backend asks for
 * sampling, elicitation or roots, the client's request is answered with `resultType: "input_required"` and an
 * opaque `requestState`; the client's retry (a new request, with `inputResponses`) answers the backend's questions
 * and waits for what comes next, the final result or another round.
 *
 * The held exchange lives in this replica's memory, bound to the caller's principal and to the original request
 * (method and name); an unknown, expired or foreign `requestState` is -32602 and the client starts over.
 */
import { randomBytes } from "node:crypto";
import { ErrorCode, JsonRpcError, Method, asObject, canonicalJson, failure, success, type JsonObject, type JsonRpcId, type JsonRpcMessage, type JsonRpcResponse } from "../protocol/index.ts";
import { principalOf, type ClientSession } from "../session/index.ts";
import type { RelatedStream } from "./inflight.ts";

/** How long a held call waits for the client's retry before it is cancelled upstream. */
export const INPUT_ROUND_TIMEOUT_MS = 300_000;
/** Per agent: one agent filling the store must not push out (and cancel) another agent's held calls. */
const MAX_HELD_PER_PRINCIPAL = 100;

const CAPABILITY_FOR: Record<string, "sampling" | "elicitation" | "roots"> = {
  [Method.SamplingCreateMessage]: "sampling",
  [Method.ElicitationCreate]: "elicitation",
  [Method.RootsList]: "roots",
};

interface PendingInput {
  readonly request: { method: string; params?: JsonObject };
  resolve(result: JsonObject): void;
  reject(error: JsonRpcError): void;
}

/** The stream of whichever round is current: progress from the held call reaches the client's latest POST. */
class RoundStream implements RelatedStream {
  target: RelatedStream | undefined;
  send(message: JsonRpcMessage): boolean {
    return this.target?.send(message) ?? false;
  }
}

class Exchange {
  readonly inputs = new Map<string, PendingInput>();
  readonly stream = new RoundStream();
  settled: JsonRpcResponse | undefined;
  /** A failure the gateway decided (a capability the client lacks): ends the exchange at the next wake-up. */
  failure: JsonRpcError | undefined;
  busy = false;
  /** Why the exchange was given up (client gone, expired, shutdown): it is never held again. */
  dropped: string | undefined;
  expiry: NodeJS.Timeout | undefined;
  private nextKey = 0;
  private wake: (() => void) | undefined;

  /** The opaque requestState, drawn when the call first asks something: most calls never do (no random draw). */
  private requestState: string | undefined;
  private readonly replicaId: string;
  readonly session: ClientSession;
  /** The latest round's declared capabilities: the spec forbids carrying a capability over from an earlier request. */
  capabilities: ClientSession["clientCapabilities"];
  readonly method: string;
  readonly name: string | undefined;
  /** The original request's arguments (the call runs with these, and nothing changes them). */
  private readonly callArguments: unknown;
  private canonicalArguments: string | undefined;
  readonly cancel: (reason: string) => void;

  constructor(replicaId: string, session: ClientSession, request: RoundRequest, cancel: (reason: string) => void) {
    this.replicaId = replicaId;
    this.session = session;
    this.capabilities = session.clientCapabilities;
    this.method = request.method;
    this.name = request.name;
    this.callArguments = request.arguments;
    this.cancel = cancel;
  }

  /** Canonical JSON of the original arguments, which a retry must repeat: only a call that asks is ever compared. */
  get args(): string {
    this.canonicalArguments ??= canonicalJson(this.callArguments ?? null);
    return this.canonicalArguments;
  }

  get state(): string {
    this.requestState ??= `${this.replicaId}.${randomBytes(18).toString("base64url")}`;
    return this.requestState;
  }

  /** The state if one was ever drawn (so that forgetting an exchange never draws one). */
  get drawnState(): string | undefined {
    return this.requestState;
  }

  key(method: string): string {
    return `${method.replace(/\W+/g, "-")}-${++this.nextKey}`;
  }

  /** Resolves when the round has something to say: an input to ask for, a decided failure, or the result. */
  waitForNews(): Promise<void> {
    if (this.inputs.size > 0 || this.failure !== undefined || this.settled !== undefined || this.dropped !== undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  poke(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** What identifies the original request: a retry must repeat all of it. */
export interface RoundRequest {
  id: JsonRpcId;
  method: string;
  /** The tool or prompt name, or the resource URI. */
  name: string | undefined;
  arguments?: unknown;
}

/** One round's answer, and how to give up on the whole call when the client goes away mid-round. */
export interface Round {
  /** final: the call's own answer (the dispatcher recorded it); otherwise a question round or a gateway refusal. */
  answer: Promise<{ response: JsonRpcResponse; final: boolean }>;
  abandon(reason: string): void;
}

export interface RoundDeps {
  replicaId: string;
  timeoutMs?: number;
}

export class InputRounds {
  private readonly held = new Map<string, Exchange>();
  /** Every exchange whose call is still running, held or mid-round: shutdown must reach them all. */
  private readonly live = new Set<Exchange>();
  private closed = false;
  private readonly replicaId: string;
  private readonly timeoutMs: number;

  constructor(deps: RoundDeps) {
    this.replicaId = deps.replicaId;
    this.timeoutMs = deps.timeoutMs ?? INPUT_ROUND_TIMEOUT_MS;
  }

  get size(): number {
    return this.held.size;
  }

  /**
   * The first round of a call that may need input: `run` starts the call (policy, audit and all) on the
   * exchange's stream. `cancel` aborts the call upstream (client gone, exchange expired).
   */
  begin(
    session: ClientSession,
    request: RoundRequest,
    stream: RelatedStream,
    run: (stream: RelatedStream, asked: () => boolean) => Promise<JsonRpcResponse>,
    cancel: (reason: string) => void,
  ): Round {
    const exchange = new Exchange(this.replicaId, session, request, cancel);
    session.inputBroker = (method, params, signal) => this.ask(exchange, method, params, signal);
    exchange.stream.target = stream;
    this.live.add(exchange);
    if (this.closed) this.drop(exchange, "gateway is shutting down");
    void run(exchange.stream, () => exchange.drawnState !== undefined).then((response) => {
      exchange.settled = response;
      this.live.delete(exchange);
      exchange.poke();
      return response;
    });
    return this.round(exchange, request.id);
  }

  /** A retry carrying `requestState`: answers what the backend asked and waits for the next thing it says. */
  resume(retry: ClientSession, request: RoundRequest & { params: JsonObject }, stream: RelatedStream): Round {
    const identity = retry.identity;
    const state = request.params.requestState;
    const exchange = typeof state === "string" ? this.held.get(state) : undefined;
    // Another agent's state must look exactly like an expired one.
    if (exchange === undefined || exchange.session.principal !== principalOf(identity)) {
      throw new JsonRpcError(ErrorCode.InvalidParams, "requestState is unknown or expired: send the request again without inputResponses and requestState");
    }
    if (exchange.method !== request.method || exchange.name !== request.name || exchange.args !== canonicalJson(request.arguments ?? null)) {
      throw new JsonRpcError(ErrorCode.InvalidParams, `requestState belongs to a different request (${exchange.method} ${exchange.name ?? ""})`.trimEnd());
    }
    if (exchange.busy) throw new JsonRpcError(ErrorCode.InvalidRequest, "a retry with this requestState is already in progress");
    const responses = asObject(request.params.inputResponses) ?? {};
    for (const [key, pending] of exchange.inputs) {
      const answer = asObject(responses[key]);
      if (answer === undefined) continue; // still missing: asked again in this round's answer
      exchange.inputs.delete(key);
      pending.resolve(answer);
    }
    exchange.session.identity = identity;
    exchange.capabilities = retry.clientCapabilities;
    exchange.stream.target = stream;
    return this.round(exchange, request.id);
  }

  /** Shutdown: every call still running is cancelled, and none is held from now on. */
  closeAll(reason: string): void {
    this.closed = true;
    for (const exchange of [...this.live]) this.drop(exchange, reason);
  }

  private ask(exchange: Exchange, method: string, params: JsonObject | undefined, signal: AbortSignal): Promise<JsonObject> {
    const capability = CAPABILITY_FOR[method];
    if (capability === undefined) return Promise.reject(new JsonRpcError(ErrorCode.MethodNotFound, `${method} cannot be relayed to a 2026-07-28 client`));
    if (exchange.capabilities[capability] === undefined) {
      // 2026-07-28: a request that needs an undeclared capability is the client's error (-32021), not the backend's.
      exchange.failure = new JsonRpcError(ErrorCode.MissingRequiredClientCapability, `this call needs the client capability "${capability}", which the request's _meta did not declare`, {
        requiredCapabilities: { [capability]: {} },
      });
      exchange.poke();
      return Promise.reject(new JsonRpcError(ErrorCode.MethodNotFound, `the client did not declare the ${capability} capability`));
    }
    return new Promise<JsonObject>((resolve, reject) => {
      const key = exchange.key(method);
      const onAbort = (): void => {
        if (exchange.inputs.delete(key)) reject(new JsonRpcError(ErrorCode.Cancelled, `${method} was cancelled`));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      exchange.inputs.set(key, {
        request: params === undefined ? { method } : { method, params },
        resolve: (result) => {
          signal.removeEventListener("abort", onAbort);
          resolve(result);
        },
        reject,
      });
      exchange.poke();
    });
  }

  private round(exchange: Exchange, id: JsonRpcId): Round {
    return { answer: this.answerRound(exchange, id), abandon: (reason) => this.drop(exchange, reason) };
  }

  private async answerRound(exchange: Exchange, id: JsonRpcId): Promise<{ response: JsonRpcResponse; final: boolean }> {
    // Still findable while the round runs (a duplicate retry hears "in progress", not "unknown"), but not expiring.
    if (exchange.expiry !== undefined) clearTimeout(exchange.expiry);
    exchange.expiry = undefined;
    exchange.busy = true;
    try {
      await exchange.waitForNews();
      // Backends often ask twice in a row (elicitation, then sampling): let both land in the same round. A call
      // that simply finished (the common case) does not wait for that turn of the event loop.
      if (exchange.settled === undefined) await new Promise<void>((resolve) => setImmediate(resolve));
      if (exchange.dropped !== undefined) {
        this.unhold(exchange);
        return { response: failure(id, { code: ErrorCode.Cancelled, message: exchange.dropped }), final: false };
      }
      if (exchange.failure !== undefined) {
        this.unhold(exchange);
        exchange.cancel(exchange.failure.message);
        return { response: failure(id, exchange.failure.toJSON()), final: false };
      }
      if (exchange.settled !== undefined) {
        this.unhold(exchange);
        return { response: withId(exchange.settled, id), final: true };
      }
      const inputRequests: JsonObject = {};
      for (const [key, pending] of exchange.inputs) inputRequests[key] = pending.request;
      this.hold(exchange);
      return { response: success(id, { resultType: "input_required", inputRequests, requestState: exchange.state }), final: false };
    } finally {
      exchange.busy = false;
      exchange.stream.target = undefined;
    }
  }

  private hold(exchange: Exchange): void {
    if (!this.held.has(exchange.state)) {
      const mine = [...this.held.values()].filter((e) => e.session.principal === exchange.session.principal);
      if (mine.length >= MAX_HELD_PER_PRINCIPAL) this.drop(mine[0]!, "too many of this agent's calls are waiting for input");
    }
    this.held.set(exchange.state, exchange);
    exchange.expiry = setTimeout(() => this.drop(exchange, "the client did not retry with the requested input in time"), this.timeoutMs);
    exchange.expiry.unref();
  }

  private unhold(exchange: Exchange): void {
    if (exchange.expiry !== undefined) clearTimeout(exchange.expiry);
    exchange.expiry = undefined;
    if (exchange.drawnState !== undefined) this.held.delete(exchange.drawnState);
  }

  private drop(exchange: Exchange, reason: string): void {
    if (exchange.dropped !== undefined) return;
    exchange.dropped = reason;
    this.unhold(exchange);
    this.live.delete(exchange);
    exchange.poke();
    for (const pending of exchange.inputs.values()) pending.reject(new JsonRpcError(ErrorCode.Cancelled, reason));
    exchange.inputs.clear();
    if (exchange.settled === undefined) exchange.cancel(reason);
  }
}

function withId(response: JsonRpcResponse, id: JsonRpcId): JsonRpcResponse {
  if (response.id === id) return response;
  return "result" in response ? success(id, response.result) : failure(id, response.error);
}

