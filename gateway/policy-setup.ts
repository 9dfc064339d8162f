/** Builds the policy stage of a Gateway from its config: the runtime (engine + hot reload) and the pipeline's gate. */
import path from "node:path";
import type { ResolvedConfig } from "./config/index.ts";
import type { PolicySettings } from "./config/schema.ts";
import { createPolicyRuntime, type PolicyRuntime } from "./policy/index.ts";
import type { PolicyGate } from "./pipeline/policy-stage.ts";
import { logger } from "./log.ts";

const log = logger("policy-setup");

export interface GatewayPolicy {
  runtime: PolicyRuntime;
  gate: PolicyGate;
  settings: PolicySettings;
}

const isUrl = (source: string): boolean => /^https?:\/\//i.test(source);

/** Bundle and key paths are relative to the config file, like every other path in it. */
export function resolvePolicyPaths(settings: PolicySettings, configDir: string): PolicySettings {
  const resolve = (source: string) => (isUrl(source) ? source : path.resolve(configDir, source));
  return {
    ...settings,
    bundle: resolve(settings.bundle),
    ...(settings.shadow === undefined ? {} : { shadow: resolve(settings.shadow) }),
    ...(settings.verify === undefined ? {} : { verify: { ...settings.verify, keyFile: path.resolve(configDir, settings.verify.keyFile) } }),
  };
}

/**
 * Starts the runtime. A bundle that cannot be loaded is logged, and the engine then denies everything (fail
 * closed) until a good bundle arrives through the reloader.
 */
export async function startPolicy(config: ResolvedConfig, options: { onLoaded?: (revision: string | undefined) => void } = {}): Promise<GatewayPolicy | undefined> {
  if (config.policy === undefined) {
    log.warn("no policy configured: every authenticated agent may call every tool");
    return undefined;
  }
  const settings = resolvePolicyPaths(config.policy, config.configDir);
  const runtime = createPolicyRuntime(settings, options.onLoaded === undefined ? {} : { onLoaded: options.onLoaded });
  const started = await runtime.start();
  if (started.live.status === "rejected") {
    log.error({ bundle: settings.bundle, err: started.live.error }, "policy bundle could not be loaded: every request is denied until a good one arrives");
  } else {
    log.info({ revision: started.live.revision, mode: settings.mode }, "policy loaded");
  }
  const gate: PolicyGate = {
    evaluate: (input) => runtime.evaluate(input),
    get revision() {
      return runtime.engine.revision;
    },
    denyAs: settings.denyAs,
  };
  return { runtime, gate, settings };
}
