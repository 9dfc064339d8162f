/**
 * The policy stage as the gateway uses it: the live engine (and a shadow engine when `shadow` is set), each kept
 * current by its own reloader, built from the `policy` config block.
 */
import { PolicyEngine, type EngineCounters, type PrepareOptions } from "./engine.ts";
import { PolicyReloader } from "./reloader.ts";
import type { PolicyConfig, PolicyOutcome, ReloadResult, ReloadStats } from "./types.ts";

export interface RuntimeOptions extends PrepareOptions {
  /** Quiet period after a file event. Default 200 ms. */
  debounceMs?: number;
  /** Watch file bundles with fs.watch (beside the stat poll). Default true. */
  watchFile?: boolean;
  fetchTimeoutMs?: number;
  maxBytes?: number;
  /** The live bundle was replaced by a new one. */
  onLoaded?: (revision: string | undefined) => void;
}

export interface PolicyStats extends ReloadStats {
  counters: EngineCounters;
  shadow?: ReloadStats;
}

export interface RuntimeReload {
  live: ReloadResult;
  shadow?: ReloadResult;
}

export interface PolicyRuntime {
  readonly engine: PolicyEngine;
  readonly shadowEngine: PolicyEngine | undefined;
  /** engine.evaluate: synchronous, never throws, fails closed. */
  evaluate(input: unknown): PolicyOutcome;
  /** Loads the bundle(s) once, then watches/polls. Never rejects: a failed first load leaves the engine denying. */
  start(): Promise<RuntimeReload>;
  stop(): void;
  reloadNow(): Promise<RuntimeReload>;
  stats(): PolicyStats;
}

/** Builds the runtime from the config block; nothing is read until start(). */
export function createPolicyRuntime(config: PolicyConfig, options: RuntimeOptions = {}): PolicyRuntime {
  const shadowEngine = config.shadow === undefined ? undefined : new PolicyEngine({ mode: "enforce", timeBudgetMs: config.timeBudgetMs });
  const engine = new PolicyEngine({ mode: config.mode, timeBudgetMs: config.timeBudgetMs, shadow: shadowEngine });
  const { onLoaded, ...shared } = options;
  const common = { ...shared, verify: config.verify, pollIntervalMs: config.pollIntervalMs };
  const live = new PolicyReloader({ ...common, engine, source: config.bundle, role: "live", ...(onLoaded === undefined ? {} : { onLoaded }) });
  const shadow =
    shadowEngine === undefined || config.shadow === undefined
      ? undefined
      : new PolicyReloader({ ...common, engine: shadowEngine, source: config.shadow, role: "shadow" });

  const both = async (run: (reloader: PolicyReloader) => Promise<ReloadResult>): Promise<RuntimeReload> => {
    const [liveResult, shadowResult] = await Promise.all([run(live), shadow === undefined ? undefined : run(shadow)]);
    return shadowResult === undefined ? { live: liveResult } : { live: liveResult, shadow: shadowResult };
  };

  return {
    engine,
    shadowEngine,
    evaluate: (input) => engine.evaluate(input),
    start: () => both((reloader) => reloader.start()),
    stop: () => {
      live.stop();
      shadow?.stop();
    },
    reloadNow: () => both((reloader) => reloader.reloadNow()),
    stats: () => {
      const stats: PolicyStats = { ...live.stats(), counters: engine.counters() };
      if (shadow !== undefined) stats.shadow = shadow.stats();
      return stats;
    },
  };
}
