/**
 * The policy engine: a compiled bundle (policy.wasm + data + revision) behind one reference, evaluated
 * synchronously per request. Compiling, instantiating, loading data and warming up happen in preparePolicy(),
 * off the hot path; swap() then replaces the whole triple with one assignment, so an evaluation sees either the
 * old bundle or the new one, never a mix, and never waits.
 *
 * Fail closed: no bundle, an exception from the wasm, an undefined decision, a result of the wrong shape, or an
 * evaluation slower than timeBudgetMs is a deny (effect "error") with the reason recorded. Wasm cannot be
 * interrupted, so the budget is checked after the fact: a too-slow answer is discarded. A GC pause can make any
 * evaluation slow now and then (measured: a few in 10^4 over 5 ms), so an over-budget evaluation is retried once
 * (retryOverBudget) and denied only when the retry is slow too: a policy that is really slow is still denied.
 */
import { performance } from "node:perf_hooks";
import { loadPolicy, type LoadedPolicy } from "@open-policy-agent/opa-wasm";
import type { LoadedBundle } from "./bundle.ts";
import { ERROR_REASONS, PolicyBundleError, type PolicyMode, type PolicyOutcome, type ShadowOutcome } from "./types.ts";

export const DEFAULT_ENTRYPOINT = "gatehouse/authz/decision";

/** A bundle compiled, instantiated and loaded with its data: what swap() installs. Immutable. */
export interface PreparedPolicy {
  readonly source: string;
  readonly revision: string | undefined;
  readonly digest: string;
  readonly entrypoint: string;
  /** Epoch ms when it was prepared. */
  readonly preparedAt: number;
  /** The raw result set from opa-wasm (`[{ result }]`, or `[]` when the decision is undefined). May throw. */
  readonly evaluateRaw: (input: unknown) => unknown;
}

export interface PrepareOptions {
  /** The entrypoint the bundle was built with (`opa build -e`). Default gatehouse/authz/decision. */
  entrypoint?: string;
  /** Bound on the policy's linear memory, in 64 KiB pages; a policy that needs more aborts (a deny). Default 8192 (512 MiB). */
  maxMemoryPages?: number;
  /**
   * Inputs evaluated after loading, so that V8 has compiled the wasm paths real traffic takes (the first call
   * through a cold path measured 0.8 to 8 ms, over the default budget). Default WARMUP_INPUTS; the reloader adds
   * the serving engine's most recent input per method. Errors are ignored.
   */
  warmupInputs?: readonly unknown[];
}

function warmupInput(method: string, target: Record<string, unknown>, extra: Record<string, unknown> = {}): unknown {
  return {
    version: 1,
    identity: { agentId: "gatehouse-warmup", issuer: "warmup", subject: "warmup", scopes: ["tools:call"], claims: {} },
    request: { method, server: "warmup", ...target },
    session: { id: "warmup", clientInfo: { name: "warmup", version: "0" }, protocolVersion: "2025-11-25" },
    time: { now_ns: 0, rfc3339: "1970-01-01T00:00:00.000Z" },
    gateway: { version: "0", replica: "warmup" },
    ...extra,
  };
}

/** Input-document-v1 shapes for the common methods (agent "gatehouse-warmup", which no policy should grant). */
export const WARMUP_INPUTS: readonly unknown[] = Object.freeze([
  {},
  warmupInput("tools/call", { tool: "read_file", arguments: { path: "/srv/x" } }, { tool: { annotations: { readOnlyHint: true }, hash: "x" } }),
  warmupInput("tools/call", { tool: "delete_file", arguments: {} }, { tool: { annotations: { destructiveHint: true }, hash: "x" } }),
  warmupInput("tools/list", { tool: "read_file" }, { tool: { annotations: {}, hash: "x" } }),
  warmupInput("resources/read", { uri: "file:///srv/x" }),
  warmupInput("prompts/get", { prompt: "summarize", arguments: {} }),
]);

/** Compiles and loads a bundle. Throws PolicyBundleError (bad wasm, missing entrypoint, data the policy refuses). */
export async function preparePolicy(bundle: LoadedBundle, options: PrepareOptions = {}): Promise<PreparedPolicy> {
  const entrypoint = options.entrypoint ?? DEFAULT_ENTRYPOINT;
  const fail = (message: string, cause?: unknown): PolicyBundleError => new PolicyBundleError(bundle.source, message, { cause });
  let policy: LoadedPolicy;
  try {
    const memory = { initial: 5, maximum: Math.max(options.maxMemoryPages ?? 8192, 16) };
    policy = await loadPolicy(bundle.wasm, memory);
  } catch (error) {
    throw fail(`policy.wasm does not load: ${describeError(error)}`, error);
  }
  const entrypoints = (policy.entrypoints ?? {}) as Record<string, number>;
  const id = Object.hasOwn(entrypoints, entrypoint) ? entrypoints[entrypoint] : undefined;
  if (typeof id !== "number") {
    throw fail(`policy.wasm has no entrypoint ${entrypoint} (it has: ${Object.keys(entrypoints).join(", ") || "none"})`);
  }
  try {
    const bytes = bundle.dataJson;
    policy.setData(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  } catch (error) {
    throw fail(`data.json does not load into the policy: ${describeError(error)}`, error);
  }
  const evaluateRaw = (input: unknown): unknown => policy.evaluate(input, id);
  await warmUp(evaluateRaw, options.warmupInputs ?? WARMUP_INPUTS);
  return Object.freeze({
    source: bundle.source,
    revision: bundle.revision,
    digest: bundle.digest,
    entrypoint,
    preparedAt: Date.now(),
    evaluateRaw,
  });
}

/**
 * Up to 200 rounds or 50 ms of work (V8 compiles wasm functions lazily and tiers hot ones up), in slices of about
 * 2 ms with the event loop let through between them, so that a reload does not stall requests in flight.
 */
async function warmUp(evaluateRaw: (input: unknown) => unknown, inputs: readonly unknown[]): Promise<void> {
  let spent = 0;
  let round = 0;
  while (round < 200 && spent < 50) {
    const sliceStart = performance.now();
    while (round < 200 && performance.now() - sliceStart < 2) {
      round++;
      for (const input of inputs) {
        try {
          evaluateRaw(input);
        } catch {
          // a warm-up input the policy cannot handle says nothing about real inputs
        }
      }
    }
    spent += performance.now() - sliceStart;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

export interface EngineOptions {
  /** Default "enforce". */
  mode?: PolicyMode;
  /** Default 5. */
  timeBudgetMs?: number;
  /** Evaluated beside this engine on every evaluate(); never enforced. */
  shadow?: PolicyEngine;
  /** Re-evaluate once when an evaluation exceeds the budget; deny only if the retry does too. Default true. */
  retryOverBudget?: boolean;
}

export interface EngineCounters {
  evaluations: number;
  allows: number;
  denies: number;
  dryRunDenies: number;
  errors: number;
  /** Evaluations over the time budget, retried or not. */
  overBudget: number;
  /** Denials for an exhausted time budget (also counted in errors). */
  overBudgetDenies: number;
  shadowDisagreements: number;
}

/** One engine's own verdict, before mode and shadow are applied. */
export interface Decision {
  allow: boolean;
  reasons: string[];
  obligations: Record<string, unknown>;
  revision: string | undefined;
  error?: string;
  evalMicros: number;
}

export class PolicyEngine {
  mode: PolicyMode;
  timeBudgetMs: number;
  shadow: PolicyEngine | undefined;
  retryOverBudget: boolean;
  #current: PreparedPolicy | undefined;
  readonly #counters: EngineCounters = {
    evaluations: 0,
    allows: 0,
    denies: 0,
    dryRunDenies: 0,
    errors: 0,
    overBudget: 0,
    overBudgetDenies: 0,
    shadowDisagreements: 0,
  };
  /** The last input per request.method, to warm the next bundle up with (bounded: 32 methods). */
  readonly #recent = new Map<string, unknown>();

  constructor(options: EngineOptions = {}) {
    this.mode = options.mode ?? "enforce";
    this.timeBudgetMs = options.timeBudgetMs ?? 5;
    this.shadow = options.shadow;
    this.retryOverBudget = options.retryOverBudget ?? true;
  }

  /** The most recent input seen per request method: warm-up material for the next bundle. */
  recentInputs(): unknown[] {
    return [...this.#recent.values()];
  }

  /** Installs a prepared policy (or none) with one assignment; returns the one it replaced. */
  swap(next: PreparedPolicy | undefined): PreparedPolicy | undefined {
    const previous = this.#current;
    this.#current = next;
    return previous;
  }

  get current(): PreparedPolicy | undefined {
    return this.#current;
  }

  get revision(): string | undefined {
    return this.#current?.revision;
  }

  counters(): EngineCounters {
    return { ...this.#counters };
  }

  /** Evaluates the live policy (and the shadow, if any). Never throws. */
  evaluate(input: unknown): PolicyOutcome {
    const decision = this.decide(input);
    const counters = this.#counters;
    counters.evaluations++;
    let outcome: PolicyOutcome;
    if (decision.error !== undefined) {
      counters.errors++;
      outcome = {
        allow: false,
        reasons: decision.reasons,
        obligations: {},
        revision: decision.revision,
        effect: "error",
        error: decision.error,
        evalMicros: decision.evalMicros,
      };
    } else {
      const dryRun = !decision.allow && this.mode === "dry-run";
      if (decision.allow) counters.allows++;
      else if (dryRun) counters.dryRunDenies++;
      else counters.denies++;
      outcome = {
        allow: decision.allow || dryRun,
        reasons: decision.reasons,
        obligations: decision.obligations,
        revision: decision.revision,
        effect: decision.allow ? "allow" : dryRun ? "dry-run-deny" : "deny",
        evalMicros: decision.evalMicros,
      };
    }
    if (this.shadow !== undefined) {
      const theirs = this.shadow.decide(input);
      const shadow: ShadowOutcome = {
        allow: theirs.allow,
        reasons: theirs.reasons,
        revision: theirs.revision,
        // Compared with the live policy's own verdict: dry-run's allow-anyway is not the policy's opinion.
        disagrees: theirs.allow !== decision.allow,
        evalMicros: theirs.evalMicros,
      };
      if (theirs.error !== undefined) shadow.error = theirs.error;
      if (shadow.disagrees) counters.shadowDisagreements++;
      outcome.shadow = shadow;
    }
    return outcome;
  }

  /** This engine's verdict alone (fail closed), without mode or shadow. Used for the shadow side. */
  decide(input: unknown): Decision {
    const policy = this.#current; // one read: policy, data and revision come from the same bundle
    this.#remember(input);
    const start = performance.now();
    if (policy === undefined) return failure(undefined, ERROR_REASONS.noBundle, "no policy bundle is loaded", start);
    let attempt = this.#attempt(policy, input, start);
    if (attempt.overBudget && this.retryOverBudget) {
      this.#counters.overBudget++;
      attempt = this.#attempt(policy, input, performance.now());
    }
    const evalMicros = (performance.now() - start) * 1000;
    if (attempt.overBudget) {
      this.#counters.overBudget++;
      this.#counters.overBudgetDenies++;
      const detail = `evaluation took ${attempt.micros.toFixed(0)} µs; the budget is ${this.timeBudgetMs} ms`;
      return { allow: false, reasons: [ERROR_REASONS.timeBudget], obligations: {}, revision: policy.revision, error: detail, evalMicros };
    }
    return { ...attempt.decision, evalMicros };
  }

  #attempt(policy: PreparedPolicy, input: unknown, start: number): { decision: Omit<Decision, "evalMicros">; overBudget: boolean; micros: number } {
    let decision: Omit<Decision, "evalMicros">;
    try {
      const checked = checkResult(policy.evaluateRaw(input));
      if (typeof checked !== "string") decision = { ...checked, revision: policy.revision };
      else {
        const undefinedDecision = checked === "undefined";
        decision = {
          allow: false,
          reasons: [undefinedDecision ? ERROR_REASONS.undefinedDecision : ERROR_REASONS.badShape],
          obligations: {},
          revision: policy.revision,
          error: undefinedDecision ? `${policy.entrypoint} is undefined for this input` : checked,
        };
      }
    } catch (error) {
      // An exception is an error whatever the time: no retry.
      return { decision: { allow: false, reasons: [ERROR_REASONS.failed], obligations: {}, revision: policy.revision, error: describeError(error) }, overBudget: false, micros: 0 };
    }
    const micros = (performance.now() - start) * 1000;
    return { decision, overBudget: micros > this.timeBudgetMs * 1000, micros };
  }

  #remember(input: unknown): void {
    const method = (input as { request?: { method?: unknown } } | null)?.request?.method;
    if (typeof method !== "string") return;
    if (this.#recent.size >= 32 && !this.#recent.has(method)) return;
    this.#recent.set(method, input);
  }
}

function failure(revision: string | undefined, reason: string, detail: string, start: number): Decision {
  return { allow: false, reasons: [reason], obligations: {}, revision, error: detail, evalMicros: (performance.now() - start) * 1000 };
}

/** The decision, or a description of what is wrong with it ("undefined" for an empty result set). */
function checkResult(resultSet: unknown): Pick<Decision, "allow" | "reasons" | "obligations"> | string {
  if (!Array.isArray(resultSet)) return "the result set is not an array";
  if (resultSet.length === 0) return "undefined";
  if (resultSet.length > 1) return `the result set has ${resultSet.length} results`;
  const result = (resultSet[0] as { result?: unknown } | null)?.result;
  if (result === null || typeof result !== "object" || Array.isArray(result)) return `the decision is ${typeName(result)}, not an object`;
  const { allow, reasons, obligations } = result as Record<string, unknown>;
  if (typeof allow !== "boolean") return `decision.allow is ${typeName(allow)}, not a boolean`;
  if (!Array.isArray(reasons) || !reasons.every((reason) => typeof reason === "string")) {
    return `decision.reasons is ${typeName(reasons)}, not an array of strings`;
  }
  if (obligations === null || typeof obligations !== "object" || Array.isArray(obligations)) {
    return `decision.obligations is ${typeName(obligations)}, not an object`;
  }
  return { allow, reasons: reasons as string[], obligations: obligations as Record<string, unknown> };
}

function typeName(value: unknown): string {
  if (value === undefined) return "missing";
  if (value === null) return "null";
  if (Array.isArray(value)) return value.every((item) => typeof item === "string") ? "an array" : "an array with non-strings";
  return `a ${typeof value}`;
}

/** opa-wasm throws strings (opa_abort, bad entrypoint), plain objects ({ message }) and Errors. */
export function describeError(error: unknown): string {
  if (typeof error === "string") return error;
  if (error instanceof Error) return `${error.name === "Error" ? "" : `${error.name}: `}${error.message}`;
  const message = (error as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message : String(error);
}
