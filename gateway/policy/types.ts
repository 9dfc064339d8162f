/**
 * The policy stage's contract: the config it reads (mirrored by the zod schema in ../config, declared here so
 * that policy does not import config), the outcome it produces, and the errors it throws.
 */

/** Bundle signature verification (OPA's `.signatures.json`). */
export interface PolicyVerifyConfig {
  /** A PEM public key (SPKI, PKCS#1 RSA or an X.509 certificate), a JWK, or a JWKS file. Read on every load. */
  keyFile: string;
  /**
   * The expected key id. When set, a signature naming another key (JWS `kid`, else the payload's `keyid`) is
   * refused, and from a JWKS file the key with this `kid` is used.
   */
  keyId?: string;
  /** The JWS algorithm. Default: the JWK's `alg`, else by key type (RSA → RS256, P-256 → ES256, ...). */
  algorithm?: string;
  /** OPA's `scope`: the signed payload's `scope` must equal it. Default: no scope (the payload must carry none). */
  scope?: string;
}

export type PolicyMode = "enforce" | "dry-run";

export interface PolicyConfig {
  /** A bundle `.tar.gz`: a file path, or an http(s) URL polled with ETag. */
  bundle: string;
  mode: PolicyMode;
  /** A second bundle (path or URL) evaluated beside the live one; its disagreements are reported, never enforced. */
  shadow?: string;
  verify?: PolicyVerifyConfig;
  /** URL bundles: the poll period. File bundles: the stat fallback beside fs.watch. Default 10000. */
  pollIntervalMs: number;
  /** An evaluation slower than this is a deny (fail closed). Default 5. */
  timeBudgetMs: number;
  /** How the lead's pipeline words a deny to the agent; the policy stage only carries it. */
  denyAs: "explicit" | "unknown";
}

export type PolicyEffect = "allow" | "deny" | "dry-run-deny" | "error";

export interface ShadowOutcome {
  allow: boolean;
  reasons: string[];
  revision?: string;
  /** The shadow's allow differs from the live policy's own decision (before dry-run turns a deny into an allow). */
  disagrees: boolean;
  error?: string;
  evalMicros: number;
}

export interface PolicyOutcome {
  /** What the gateway enforces: false for a deny in enforce mode and for every error, in either mode. */
  allow: boolean;
  /** The policy's reasons; for an error, one fixed reason that is safe to show (the detail is in `error`). */
  reasons: string[];
  obligations: Record<string, unknown>;
  /** The live bundle's manifest revision; undefined when none is loaded or the manifest has none. */
  revision: string | undefined;
  effect: PolicyEffect;
  /** Why the evaluation failed (effect "error"): for logs and audit, not for the agent. */
  error?: string;
  /** Wall time of the live evaluation (input serialization, wasm, result parsing, shape checks), in µs. */
  evalMicros: number;
  shadow?: ShadowOutcome;
}

/** The fixed reasons of effect "error" outcomes. */
export const ERROR_REASONS = {
  noBundle: "no policy bundle is loaded",
  failed: "policy evaluation failed",
  undefinedDecision: "policy decision is undefined for this input",
  badShape: "policy result has the wrong shape",
  timeBudget: "policy evaluation exceeded its time budget",
} as const;

/** A bundle that could not be read, parsed or verified. The message starts with `bundle <source>: `. */
export class PolicyBundleError extends Error {
  readonly source: string;
  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super(`bundle ${source}: ${message}`, options);
    this.name = "PolicyBundleError";
    this.source = source;
  }
}

export interface ReloadStats {
  /** Bundles accepted and swapped in (the first load counts). */
  loads: number;
  /** Bundles refused (corrupt, unsigned, badly signed, wrong shape) and failed fetches or reads. */
  rejects: number;
  /** The last refusal's message, kept after later successes; undefined when there was none. */
  lastError: string | undefined;
  /** The serving bundle's revision. */
  revision: string | undefined;
  /** Epoch ms of the last accepted load and of the last refusal. */
  lastLoadAt: number | undefined;
  lastErrorAt: number | undefined;
}

export interface ReloadResult {
  /** "loaded": a new bundle serves; "unchanged": same bytes or HTTP 304; "rejected": the old one keeps serving. */
  status: "loaded" | "unchanged" | "rejected";
  revision: string | undefined;
  error?: string;
}
