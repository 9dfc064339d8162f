import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ErrorCode,
  JsonRpcError,
  failure,
  success,
  type ClientCapabilities,
  type JsonObject,
  type JsonRpcId,
  type JsonRpcMessage,
  type JsonRpcResponse,
} from "../protocol/index.ts";
import { ClientSession } from "../session/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { RelatedStream } from "./inflight.ts";
import { INPUT_ROUND_TIMEOUT_MS, InputRounds, type Round } from "./input-rounds.ts";
import { thrown } from "./testing.ts";

const REPLICA = "replica-a";
const STATE_PATTERN = /^replica-a\.[A-Za-z0-9_-]{24}$/; // the replica id, a dot, 144 random bits in base64url
const ALL_CAPABILITIES: ClientCapabilities = { sampling: {}, elicitation: {}, roots: {} };

const identity = (overrides: Partial<AgentIdentity> = {}): AgentIdentity => ({
  agentId: "agent-1",
  issuer: "corp",
  subject: "agent-1",
  scopes: ["mcp"],
  claims: {},
  expiresAt: 4_000_000_000,
  ...overrides,
});

class Recorder implements RelatedStream {
  readonly sent: JsonRpcMessage[] = [];
  send(message: JsonRpcMessage): boolean {
    this.sent.push(message);
    return true;
  }
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** What the simulated backend does: asks the client through the session (as backend-events would) and answers. */
type Ask = (method: string, params?: JsonObject) => Promise<JsonObject>;
type Script = (ask: Ask, stream: RelatedStream, signal: AbortSignal) => Promise<JsonObject>;

interface StartOptions {
  capabilities?: ClientCapabilities;
  id?: JsonRpcId;
  method?: string;
  name?: string | undefined;
  who?: AgentIdentity;
}

interface Call {
  session: ClientSession;
  round: Round;
  /** Every reason `cancel` was called with, in order. */
  cancels: string[];
  stream: Recorder;
  signal: AbortSignal;
}

function startCall(rounds: InputRounds, script: Script, options: StartOptions = {}): Call {
  const session = new ClientSession({ protocolVersion: "2026-07-28", identity: options.who ?? identity(), clientCapabilities: options.capabilities ?? ALL_CAPABILITIES });
  const controller = new AbortController();
  const cancels: string[] = [];
  const id = options.id ?? 1;
  const stream = new Recorder();
  const ask: Ask = (method, params) => session.requestClient(method, params, () => false, controller.signal);
  const run = async (st: RelatedStream): Promise<JsonRpcResponse> => {
    try {
      return success(id, await script(ask, st, controller.signal));
    } catch (error) {
      return failure(id, JsonRpcError.from(error).toJSON());
    }
  };
  const name = "name" in options ? options.name : "get_weather";
  const round = rounds.begin(session, { id, method: options.method ?? "tools/call", name }, stream, run, (reason) => {
    cancels.push(reason);
    controller.abort(reason);
  });
  return { session, round, cancels, stream, signal: controller.signal };
}

interface ResumeOptions {
  id?: JsonRpcId;
  method?: string;
  name?: string | undefined;
  who?: AgentIdentity;
  stream?: RelatedStream;
  /** What the retry's own _meta declares (defaults to everything). */
  capabilities?: JsonObject;
}

function resume(rounds: InputRounds, requestState: unknown, inputResponses?: JsonObject, options: ResumeOptions = {}): Round {
  const name = "name" in options ? options.name : "get_weather";
  const params: JsonObject = { name, arguments: { location: "New York" }, requestState };
  if (inputResponses !== undefined) params.inputResponses = inputResponses;
  const retry = new ClientSession({ protocolVersion: "2026-07-28", identity: options.who ?? identity(), clientCapabilities: options.capabilities ?? ALL_CAPABILITIES });
  return rounds.resume(retry, { id: options.id ?? 2, method: options.method ?? "tools/call", name, params }, options.stream ?? new Recorder());
}

/** The input_required round's questions and state; fails the test on anything else. */
function inputRequired(answer: { response: JsonRpcResponse; final: boolean }): { inputRequests: Record<string, JsonObject>; requestState: string; result: JsonObject } {
  expect(answer.final).toBe(false);
  if (!("result" in answer.response)) throw new Error(`expected input_required, got error ${JSON.stringify(answer.response.error)}`);
  const { result } = answer.response;
  expect(result.resultType).toBe("input_required");
  expect(typeof result.requestState).toBe("string");
  return { inputRequests: result.inputRequests as Record<string, JsonObject>, requestState: result.requestState as string, result };
}


const ELICIT = { mode: "form", message: "Your GitHub username?", requestedSchema: { type: "object", properties: { name: { type: "string" } } } };
const SAMPLE = { messages: [{ role: "user", content: { type: "text", text: "Summarize" } }], maxTokens: 50 };
const ELICIT_ANSWER = { action: "accept", content: { name: "octocat" } };
const SAMPLE_ANSWER = { role: "assistant", content: { type: "text", text: "A summary" }, model: "m1", stopReason: "endTurn" };

let rounds: InputRounds;
afterEach(() => {
  rounds?.closeAll("test over");
});

describe("InputRounds: a call that never asks", () => {
  it.each([
    { name: "a result", outcome: { ok: true as const, result: { content: [{ type: "text", text: "sunny" }] } } },
    { name: "the backend's error", outcome: { ok: false as const, error: new JsonRpcError(ErrorCode.InvalidParams, "unknown city") } },
  ])("returns final: true with its own response ($name)", async ({ outcome }) => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async () => {
      if (!outcome.ok) throw outcome.error;
      return outcome.result;
    }, { id: 7 });
    const answer = await call.round.answer;
    expect(answer.final).toBe(true);
    expect(answer.response).toEqual(outcome.ok ? success(7, outcome.result) : failure(7, { code: -32602, message: "unknown city" }));
    expect(rounds.size).toBe(0);
    expect(call.cancels).toEqual([]);
  });
});

describe("InputRounds: one question", () => {
  it.each([
    { capability: "elicitation", method: "elicitation/create", params: ELICIT as JsonObject | undefined, key: "elicitation-create-1", reply: ELICIT_ANSWER as JsonObject },
    { capability: "sampling", method: "sampling/createMessage", params: SAMPLE as JsonObject | undefined, key: "sampling-createMessage-1", reply: SAMPLE_ANSWER as JsonObject },
    { capability: "roots", method: "roots/list", params: undefined, key: "roots-list-1", reply: { roots: [{ uri: "file:///project" }] } as JsonObject },
  ])("$method: input_required with a keyed question, then the retry's inputResponses finish the call with the retry's id", async ({ capability, method, params, key, reply }) => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const received: JsonObject[] = [];
    const call = startCall(rounds, async (ask) => {
      const answer = await ask(method, params);
      received.push(answer);
      return { content: [{ type: "text", text: "done" }] };
    }, { id: 1, capabilities: { [capability]: {} } });

    const first = inputRequired(await call.round.answer);
    expect(first.inputRequests).toEqual({ [key]: params === undefined ? { method } : { method, params } });
    expect(first.requestState).toMatch(STATE_PATTERN);
    expect(Object.keys(first.result).sort()).toEqual(["inputRequests", "requestState", "resultType"]);
    expect(call.session.inputBroker).toBeTypeOf("function");
    expect(rounds.size).toBe(1);
    expect(received).toEqual([]);

    const second = await resume(rounds, first.requestState, { [key]: reply }, { id: 2 }).answer;
    expect(second).toEqual({ response: success(2, { content: [{ type: "text", text: "done" }] }), final: true });
    expect(received).toEqual([reply]);
    expect(rounds.size).toBe(0);
    expect(call.cancels).toEqual([]);
    // Finished: the state is gone.
    expect(thrown(() => resume(rounds, first.requestState, { [key]: reply }, { id: 3 })).code).toBe(ErrorCode.InvalidParams);
  });

  it("gives every call its own unguessable requestState", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const a = startCall(rounds, async (ask) => ask("roots/list"));
    const b = startCall(rounds, async (ask) => ask("roots/list"));
    const [ra, rb] = [inputRequired(await a.round.answer), inputRequired(await b.round.answer)];
    expect(ra.requestState).toMatch(STATE_PATTERN);
    expect(rb.requestState).toMatch(STATE_PATTERN);
    expect(ra.requestState).not.toBe(rb.requestState);
    expect(rounds.size).toBe(2);
  });

  it("a question the gateway cannot relay is refused to the backend with -32601 and does not interrupt the call", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => {
      const error = await ask("ping").then(
        () => undefined,
        (e: unknown) => e as JsonRpcError,
      );
      return { refusedWith: error?.code ?? null };
    });
    const answer = await call.round.answer;
    expect(answer).toEqual({ response: success(1, { refusedWith: ErrorCode.MethodNotFound }), final: true });
    expect(call.cancels).toEqual([]);
  });

  it("sends the held call's progress to the stream of the current round only", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const progress = (n: number): JsonRpcMessage => ({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "p", progress: n } });
    const delivered: boolean[] = [];
    const between = deferred();
    const call = startCall(rounds, async (ask, stream) => {
      delivered.push(stream.send(progress(1)));
      await ask("elicitation/create", ELICIT);
      await between.promise;
      delivered.push(stream.send(progress(2)));
      return { ok: true };
    });
    const first = inputRequired(await call.round.answer);
    const retryStream = new Recorder();
    const retry = resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }, { stream: retryStream });
    between.resolve();
    expect((await retry.answer).final).toBe(true);
    expect(call.stream.sent).toEqual([progress(1)]);
    expect(retryStream.sent).toEqual([progress(2)]);
    expect(delivered).toEqual([true, true]);
  });
});

describe("InputRounds: several questions", () => {
  it.each([
    { name: "in the same tick", gap: async () => {} },
    { name: "a few microtasks apart", gap: async () => {
      for (let i = 0; i < 5; i++) await Promise.resolve();
    } },
  ])("two questions asked back to back ($name) land in one round", async ({ gap }) => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => {
      const first = ask("elicitation/create", ELICIT);
      await gap();
      const second = ask("sampling/createMessage", SAMPLE);
      const [e, s] = await Promise.all([first, second]);
      return { elicited: e, sampled: s };
    });
    const round = inputRequired(await call.round.answer);
    expect(round.inputRequests).toEqual({
      "elicitation-create-1": { method: "elicitation/create", params: ELICIT },
      "sampling-createMessage-2": { method: "sampling/createMessage", params: SAMPLE },
    });
    const final = await resume(rounds, round.requestState, { "elicitation-create-1": ELICIT_ANSWER, "sampling-createMessage-2": SAMPLE_ANSWER }, { id: "retry" }).answer;
    expect(final).toEqual({ response: success("retry", { elicited: ELICIT_ANSWER, sampled: SAMPLE_ANSWER }), final: true });
  });

  it("a resume missing a key is asked that question again (and only that one); unknown keys are ignored", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => {
      const [e, s] = await Promise.all([ask("elicitation/create", ELICIT), ask("sampling/createMessage", SAMPLE)]);
      return { elicited: e, sampled: s };
    });
    const first = inputRequired(await call.round.answer);
    expect(Object.keys(first.inputRequests).sort()).toEqual(["elicitation-create-1", "sampling-createMessage-2"]);

    const second = inputRequired(await resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER, "made-up": { x: 1 } }, { id: 2 }).answer);
    expect(second.inputRequests).toEqual({ "sampling-createMessage-2": { method: "sampling/createMessage", params: SAMPLE } });
    expect(second.requestState).toBe(first.requestState);
    expect(rounds.size).toBe(1);

    // No inputResponses at all, or a non-object answer: asked again.
    const third = inputRequired(await resume(rounds, first.requestState, undefined, { id: 3 }).answer);
    expect(Object.keys(third.inputRequests)).toEqual(["sampling-createMessage-2"]);
    const fourth = inputRequired(await resume(rounds, first.requestState, { "sampling-createMessage-2": "not an object" }, { id: 4 }).answer);
    expect(Object.keys(fourth.inputRequests)).toEqual(["sampling-createMessage-2"]);

    const final = await resume(rounds, first.requestState, { "sampling-createMessage-2": SAMPLE_ANSWER }, { id: 5 }).answer;
    expect(final).toEqual({ response: success(5, { elicited: ELICIT_ANSWER, sampled: SAMPLE_ANSWER }), final: true });
    expect(call.cancels).toEqual([]);
  });

  it("a question asked after an answer comes in a second round with a new key", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => {
      const e = await ask("elicitation/create", ELICIT);
      const s = await ask("sampling/createMessage", SAMPLE);
      return { elicited: e, sampled: s };
    });
    const first = inputRequired(await call.round.answer);
    expect(Object.keys(first.inputRequests)).toEqual(["elicitation-create-1"]);
    const second = inputRequired(await resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }, { id: 2 }).answer);
    expect(second.inputRequests).toEqual({ "sampling-createMessage-2": { method: "sampling/createMessage", params: SAMPLE } });
    const final = await resume(rounds, second.requestState, { "sampling-createMessage-2": SAMPLE_ANSWER }, { id: 3 }).answer;
    expect(final).toEqual({ response: success(3, { elicited: ELICIT_ANSWER, sampled: SAMPLE_ANSWER }), final: true });
  });
});

describe("InputRounds.resume refusals", () => {
  it.each([
    { name: "an unknown state", state: "replica-a.AAAAAAAAAAAAAAAAAAAAAAAA", options: {} },
    { name: "a state that is not a string", state: 42, options: {} },
    { name: "another issuer's agent with the same subject", state: undefined, options: { who: identity({ issuer: "other-idp" }) } },
    { name: "another subject at the same issuer", state: undefined, options: { who: identity({ subject: "agent-2", agentId: "agent-2" }) } },
    { name: "a different method", state: undefined, options: { method: "prompts/get" } },
    { name: "a different name", state: undefined, options: { name: "get_forecast" } },
    { name: "no name where the original had one", state: undefined, options: { name: undefined } },
  ])("$name is -32602, thrown by resume; the real exchange is untouched", async ({ state, options }) => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => ({ got: await ask("elicitation/create", ELICIT) }));
    const first = inputRequired(await call.round.answer);
    const error = thrown(() => resume(rounds, state ?? first.requestState, { "elicitation-create-1": { action: "decline" } }, options));
    expect(error.code).toBe(ErrorCode.InvalidParams);
    expect(rounds.size).toBe(1);
    expect(call.cancels).toEqual([]);
    // The owner's retry still works, and the refused attempt's answer was not taken.
    const final = await resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }, { id: 9 }).answer;
    expect(final).toEqual({ response: success(9, { got: ELICIT_ANSWER }), final: true });
  });

  it("another principal's attempt looks exactly like an unknown state", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => ask("roots/list"));
    const first = inputRequired(await call.round.answer);
    const foreign = thrown(() => resume(rounds, first.requestState, {}, { who: identity({ subject: "intruder" }) }));
    const unknown = thrown(() => resume(rounds, "replica-a.nothing-here", {}));
    expect(foreign.toJSON()).toEqual(unknown.toJSON());
  });

  it("the same principal with a refreshed token is accepted and the session adopts it", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => ({ got: await ask("roots/list") }));
    const first = inputRequired(await call.round.answer);
    const refreshed = identity({ scopes: ["mcp", "extra"], expiresAt: 4_100_000_000 });
    const final = await resume(rounds, first.requestState, { "roots-list-1": { roots: [] } }, { who: refreshed }).answer;
    expect(final).toEqual({ response: success(2, { got: { roots: [] } }), final: true });
    expect(call.session.identity).toBe(refreshed);
  });

  it("a second resume while one is in progress is -32600", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const slow = deferred();
    const call = startCall(rounds, async (ask) => {
      const got = await ask("elicitation/create", ELICIT);
      await slow.promise;
      return { got };
    });
    const first = inputRequired(await call.round.answer);
    const inProgress = resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }, { id: 2 });
    const error = thrown(() => resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }, { id: 3 }));
    slow.resolve();
    expect((await inProgress.answer).response).toEqual(success(2, { got: ELICIT_ANSWER }));
    expect(error.code).toBe(ErrorCode.InvalidRequest);
    expect(call.cancels).toEqual([]);
  });
});

describe("InputRounds: a question needing an undeclared capability", () => {
  it.each([
    { method: "elicitation/create", params: ELICIT, capability: "elicitation", declared: { sampling: {}, roots: {} } },
    { method: "sampling/createMessage", params: SAMPLE, capability: "sampling", declared: { elicitation: {} } },
    { method: "roots/list", params: undefined, capability: "roots", declared: {} },
  ])("$method without $capability: the round answers -32021 with requiredCapabilities and the call is cancelled", async ({ method, params, capability, declared }) => {
    rounds = new InputRounds({ replicaId: REPLICA });
    let backendSaw: JsonRpcError | undefined;
    const call = startCall(rounds, async (ask) => {
      try {
        return await ask(method, params);
      } catch (error) {
        backendSaw = error as JsonRpcError;
        throw error;
      }
    }, { id: 11, capabilities: declared });
    const answer = await call.round.answer;
    expect(answer.final).toBe(false);
    if (!("error" in answer.response)) throw new Error("expected an error response");
    expect(answer.response.id).toBe(11);
    expect(answer.response.error.code).toBe(ErrorCode.MissingRequiredClientCapability);
    expect(answer.response.error.data).toEqual({ requiredCapabilities: { [capability]: {} } });
    expect(answer.response.error.message).toContain(capability);
    expect(call.cancels).toHaveLength(1);
    expect(call.cancels[0]).toContain(capability);
    expect(backendSaw).toBeInstanceOf(JsonRpcError);
    expect(rounds.size).toBe(0);
  });

  it("a later round's undeclared question ends the call with -32021 under the retry's id", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => {
      await ask("elicitation/create", ELICIT);
      return ask("sampling/createMessage", SAMPLE);
    }, { capabilities: { elicitation: {} } });
    const first = inputRequired(await call.round.answer);
    // Capabilities are the retry's own (the spec forbids carrying them over): it declares elicitation only.
    const second = await resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }, { id: "r2", capabilities: { elicitation: {} } }).answer;
    expect(second.final).toBe(false);
    expect(second.response).toMatchObject({ id: "r2", error: { code: -32021, data: { requiredCapabilities: { sampling: {} } } } });
    expect(call.cancels).toHaveLength(1);
    expect(thrown(() => resume(rounds, first.requestState, {}, { id: "r3" })).code).toBe(ErrorCode.InvalidParams);
  });
});

describe("InputRounds: capabilities come from each round's own request", () => {
  it("a retry that declares sampling may be asked for it even though the first request did not", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const call = startCall(rounds, async (ask) => {
      await ask("elicitation/create", ELICIT);
      return ask("sampling/createMessage", SAMPLE);
    }, { capabilities: { elicitation: {} } });
    const first = inputRequired(await call.round.answer);
    const second = inputRequired(await resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }, { id: "r2", capabilities: { elicitation: {}, sampling: {} } }).answer);
    expect(Object.values(second.inputRequests).map((r) => r.method)).toEqual(["sampling/createMessage"]);
  });
});

describe("InputRounds: ending a held call", () => {
  it("holds for five minutes by default", () => {
    expect(INPUT_ROUND_TIMEOUT_MS).toBe(300_000);
  });

  it("expiry cancels the call with a reason, rejects the backend's question, and a later resume is -32602", async () => {
    rounds = new InputRounds({ replicaId: REPLICA, timeoutMs: 50 });
    let backendSaw: JsonRpcError | undefined;
    const call = startCall(rounds, async (ask) => {
      try {
        return await ask("elicitation/create", ELICIT);
      } catch (error) {
        backendSaw = error as JsonRpcError;
        throw error;
      }
    });
    const first = inputRequired(await call.round.answer);
    expect(call.cancels).toEqual([]);
    await vi.waitFor(() => expect(call.cancels).toHaveLength(1), { timeout: 2_000, interval: 10 });
    expect(call.cancels[0]).toMatch(/in time/);
    expect(call.signal.aborted).toBe(true);
    await vi.waitFor(() => expect(backendSaw).toBeDefined(), { timeout: 2_000, interval: 10 });
    expect(backendSaw?.code).toBe(ErrorCode.Cancelled);
    expect(rounds.size).toBe(0);
    expect(thrown(() => resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER })).code).toBe(ErrorCode.InvalidParams);
  });

  it("a resumed round is not cut short by the previous round's expiry", async () => {
    rounds = new InputRounds({ replicaId: REPLICA, timeoutMs: 50 });
    const call = startCall(rounds, async (ask) => {
      const got = await ask("elicitation/create", ELICIT);
      await new Promise((resolve) => setTimeout(resolve, 150));
      return { got };
    });
    const first = inputRequired(await call.round.answer);
    const final = await resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER }).answer;
    expect(final).toEqual({ response: success(2, { got: ELICIT_ANSWER }), final: true });
    expect(call.cancels).toEqual([]);
  });

  it("abandon during the first round cancels the call and rejects its question", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    let backendSaw: JsonRpcError | undefined;
    const call = startCall(rounds, async (ask) => {
      try {
        return await ask("elicitation/create", ELICIT);
      } catch (error) {
        backendSaw = error as JsonRpcError;
        throw error;
      }
    });
    call.round.abandon("client closed the stream");
    expect(call.cancels).toEqual(["client closed the stream"]);
    await call.round.answer;
    expect(backendSaw?.code).toBe(ErrorCode.Cancelled);
    expect(backendSaw?.message).toBe("client closed the stream");
    expect(rounds.size).toBe(0);
    expect(call.cancels).toEqual(["client closed the stream"]);
  });

  it("abandon during a resumed round cancels the call and its state is gone", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const working = deferred();
    const call = startCall(rounds, async (ask, _stream, signal) => {
      const got = await ask("elicitation/create", ELICIT);
      working.resolve();
      await new Promise((_resolve, reject) => signal.addEventListener("abort", () => reject(new JsonRpcError(ErrorCode.Cancelled, "aborted upstream")), { once: true }));
      return { got };
    });
    const first = inputRequired(await call.round.answer);
    const second = resume(rounds, first.requestState, { "elicitation-create-1": ELICIT_ANSWER });
    await working.promise;
    second.abandon("client went away");
    expect(call.cancels).toEqual(["client went away"]);
    expect(call.signal.aborted).toBe(true);
    await second.answer;
    expect(rounds.size).toBe(0);
    expect(thrown(() => resume(rounds, first.requestState, {}, { id: 3 })).code).toBe(ErrorCode.InvalidParams);
  });

  it("an abandoned call whose backend is slow to stop is not held again", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const stopped = deferred();
    const call = startCall(rounds, async (ask) => {
      try {
        return await ask("elicitation/create", ELICIT);
      } catch (error) {
        await stopped.promise; // the backend takes a while to wind the call down
        throw error;
      }
    });
    call.round.abandon("client closed the stream");
    const answer = await call.round.answer;
    stopped.resolve();
    expect(call.cancels).toEqual(["client closed the stream"]);
    expect(rounds.size).toBe(0);
    // Nothing can be resumed for a call the gateway already gave up on.
    const leftState = "result" in answer.response ? answer.response.result.requestState : undefined;
    if (typeof leftState === "string") expect(thrown(() => resume(rounds, leftState)).code).toBe(ErrorCode.InvalidParams);
  });

  it("closeAll cancels every held exchange and rejects their questions", async () => {
    rounds = new InputRounds({ replicaId: REPLICA });
    const saw: Array<JsonRpcError | undefined> = [undefined, undefined];
    const calls = [0, 1].map((i) =>
      startCall(rounds, async (ask) => {
        try {
          return await ask("roots/list");
        } catch (error) {
          saw[i] = error as JsonRpcError;
          throw error;
        }
      }, { id: i }),
    );
    const states = await Promise.all(calls.map(async (c) => inputRequired(await c.round.answer).requestState));
    expect(rounds.size).toBe(2);
    rounds.closeAll("gateway is shutting down");
    expect(rounds.size).toBe(0);
    for (const call of calls) expect(call.cancels).toEqual(["gateway is shutting down"]);
    await vi.waitFor(() => expect(saw.every((e) => e?.code === ErrorCode.Cancelled)).toBe(true), { timeout: 2_000, interval: 10 });
    for (const state of states) expect(thrown(() => resume(rounds, state, { "roots-list-1": { roots: [] } })).code).toBe(ErrorCode.InvalidParams);
  });
});
