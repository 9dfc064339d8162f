/**
 * The identity stage's contract: the config it reads (mirrors the zod schema in ../config, declared here so that
 * identity does not import config), the identity it produces, and the error it throws.
 */

/** Settings every issuer kind shares. */
interface IssuerCommon {
  /** The issuer's config name; it becomes `AgentIdentity.issuer`. */
  name: string;
  /** JWS algorithms this issuer may sign with. `none` is never accepted; HS* only for a static issuer with a secret. */
  algorithms: string[];
  /** Template over the verified claims, e.g. "{sub}" or "{kubernetes.namespace}/{kubernetes.serviceAccount}". */
  agentId: string;
}

/** Where an OIDC-style issuer publishes its keys: exactly one of jwksUri, discovery or jwksFile. */
interface JwksSource {
  jwksUri?: string;
  /** Fetch `{issuer}/.well-known/openid-configuration` and use its `jwks_uri`. */
  discovery?: boolean;
  /** An absolute path to a JWKS JSON file. */
  jwksFile?: string;
}

export interface OidcIssuerConfig extends IssuerCommon, JwksSource {
  kind: "oidc";
  issuer: string;
}

export interface KubernetesIssuerConfig extends IssuerCommon, JwksSource {
  kind: "kubernetes";
  issuer: string;
}

export interface SpiffeIssuerConfig extends IssuerCommon {
  kind: "spiffe";
  /** Tokens are accepted when `sub` is `spiffe://<trustDomain>/...`; `iss` is not required. */
  trustDomain: string;
  /** A SPIFFE bundle (JWKS whose keys say `use: "jwt-svid"`), over HTTP(S)... */
  bundleUri?: string;
  /** ...or from an absolute file path. */
  bundleFile?: string;
}

export interface StaticIssuerConfig extends IssuerCommon {
  kind: "static";
  issuer: string;
  jwksFile?: string;
  /** A shared secret for HS256/384/512; the only way an HS* token is ever accepted. */
  secret?: string;
}

export type IssuerConfig = OidcIssuerConfig | KubernetesIssuerConfig | SpiffeIssuerConfig | StaticIssuerConfig;

export interface IdentityConfig {
  /** The gateway's resource id: tokens must name it in `aud`. */
  audience: string;
  /** Scopes every token must carry; a missing one is 403 insufficient_scope. */
  requiredScopes: string[];
  /** Bounded clock skew, in seconds, for exp/nbf/iat. */
  clockSkewSeconds: number;
  issuers: IssuerConfig[];
}

/** A verified caller. Flows to policy input, audit, metrics labels and rate limits. */
export interface AgentIdentity {
  agentId: string;
  /** The issuer's config name (not its `iss` URL). */
  issuer: string;
  subject: string;
  /** SPIFFE issuers only. */
  trustDomain?: string;
  /** Kubernetes issuers only. */
  namespace?: string;
  serviceAccount?: string;
  scopes: string[];
  /** The verified JWT claims set, as the issuer signed it. */
  claims: Record<string, unknown>;
  /** The token's `exp`, epoch seconds. */
  expiresAt: number;
}

export type AuthErrorCode = "invalid_token" | "insufficient_scope" | "invalid_request";

/**
 * Why a token was refused. `description` is safe to send to the client (RFC 6750 error_description): it names
 * the failed check, never the token or key material.
 */
export class AuthError extends Error {
  readonly status: 401 | 403;
  readonly error: AuthErrorCode;
  readonly description: string;
  /** For insufficient_scope: the required scopes the token lacks (for the challenge's `scope` attribute). */
  readonly missingScopes: string[];

  constructor(status: 401 | 403, error: AuthErrorCode, description: string, missingScopes: string[] = []) {
    super(description);
    this.name = "AuthError";
    this.status = status;
    this.error = error;
    this.description = description;
    this.missingScopes = missingScopes;
  }

  /** RFC 6750's `scope` challenge attribute: the missing scopes, space-separated; undefined when none. */
  get scope(): string | undefined {
    return this.missingScopes.length === 0 ? undefined : this.missingScopes.join(" ");
  }
}

/** Counted refusal reasons; stable names, meant as metrics labels. */
export const FAILURE_REASONS = [
  "missing_token",
  "too_large",
  "malformed",
  "unknown_issuer",
  "algorithm",
  "unknown_key",
  "keys_unavailable",
  "signature",
  "expired",
  "not_yet_valid",
  "claims",
  "identity",
  "insufficient_scope",
  "internal",
] as const;

export type FailureReason = (typeof FAILURE_REASONS)[number];

export interface AuthenticatorStats {
  /** Calls to verify(). */
  requests: number;
  /** Full verifications (signature and claims), i.e. cache misses that reached jose. */
  verifications: number;
  cacheHits: number;
  /** Key set loads (HTTP fetches, discovery documents and file reads), successful or not. */
  keySetLoads: number;
  failures: Record<FailureReason, number>;
}

export interface AuthenticatorOptions {
  /** Per-request timeout for discovery, JWKS and bundle fetches. Default 5000. */
  fetchTimeoutMs?: number;
  /** Bound on cached verified identities; the oldest is evicted first. Default 10000. */
  cacheEntries?: number;
  /** The clock, in epoch milliseconds like Date.now (tests move it). Used for token times and refetch limits. */
  now?: () => number;
  /** Minimum time between two key set refetches triggered by an unknown kid. Default 30000. */
  refetchCooldownMs?: number;
  /** Key sets older than this are refreshed in the background while the old keys keep serving. Default 600000. */
  keySetMaxAgeMs?: number;
  /** Tokens longer than this many bytes are refused unread. Default 8192. */
  maxTokenBytes?: number;
}

export interface IssuerLoadResult {
  issuer: string;
  ok: boolean;
  /** Why the keys could not be loaded; safe to log. */
  error?: string;
}

export interface Authenticator {
  /** Verifies a bearer token (without the "Bearer " prefix). Throws AuthError. */
  verify(token: string): Promise<AgentIdentity>;
  /** Loads every issuer's keys now, so that startup can report an unreachable JWKS instead of the first caller. */
  warmUp(): Promise<IssuerLoadResult[]>;
  stats(): AuthenticatorStats;
}
