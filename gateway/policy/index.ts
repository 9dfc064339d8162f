/** The policy stage's public face: everything other folders may use. See README.md. */
export { createPolicyRuntime, type PolicyRuntime, type PolicyStats, type RuntimeOptions, type RuntimeReload } from "./runtime.ts";
export {
  PolicyEngine,
  preparePolicy,
  DEFAULT_ENTRYPOINT,
  WARMUP_INPUTS,
  type Decision,
  type EngineCounters,
  type EngineOptions,
  type PreparedPolicy,
  type PrepareOptions,
} from "./engine.ts";
export { PolicyReloader, type ReloaderOptions } from "./reloader.ts";
export { loadBundle, parseBundle, readBundleFile, type BundleManifest, type BundleOptions, type LoadedBundle } from "./bundle.ts";
export { verifyBundleSignatures, opaFileHash, canonicalJson, type SignatureInfo } from "./signatures.ts";
export { evalCommand, type EvalCommandOptions } from "./cli.ts";
export { buildWasmBundle, findOpa, wasmCapabilities, type BuildOptions } from "./opa.ts";
export { benchPolicy, type PolicyBenchOptions, type PolicyBenchResult } from "./bench.ts";
export {
  ERROR_REASONS,
  PolicyBundleError,
  type PolicyConfig,
  type PolicyEffect,
  type PolicyMode,
  type PolicyOutcome,
  type PolicyVerifyConfig,
  type ReloadResult,
  type ReloadStats,
  type ShadowOutcome,
} from "./types.ts";
