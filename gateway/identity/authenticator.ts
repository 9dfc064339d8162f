/**
 * Bearer JWT → AgentIdentity, on every request. The order of checks matters: size first (cheap, before any
 * parsing), then the issuer chosen from the unverified claims, the algorithm against that issuer's allow-list,
 * and only then jose verifies signature and claims. Nothing read from the token before verification decides more
 * than which issuer's rules and keys to apply.
 */
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyOptions } from "jose";
import { logger } from "../log.ts";
import { deepFreeze } from "../protocol/index.ts";
import { IdentityCache, tokenKey } from "./cache.ts";
import { kubernetesWorkload, parseScopes, parseSpiffeId, renderAgentId, type DerivedValues } from "./claims.ts";
import { buildIssuer, validateIdentityConfig, type IssuerRuntime } from "./issuers.ts";
import { KeySetUnavailableError } from "./key-sets.ts";
import {
  AuthError,
  FAILURE_REASONS,
  type AgentIdentity,
  type Authenticator,
  type AuthenticatorOptions,
  type AuthenticatorStats,
  type FailureReason,
  type IdentityConfig,
  type IssuerLoadResult,
} from "./types.ts";

/** Looked up per use, not at import: `serve --stdio` points the root logger at stderr after modules load. */
const log = () => logger("identity");

const DEFAULTS = {
  fetchTimeoutMs: 5_000,
  cacheEntries: 10_000,
  refetchCooldownMs: 30_000,
  keySetMaxAgeMs: 600_000,
  maxTokenBytes: 8 * 1024,
};
/** With no kid and several candidate keys, try at most this many (a JWKS with hundreds of keys must not cost hundreds of signature checks). */
const MAX_KEY_CANDIDATES = 8;

/** Thrown when the config does not pass validateIdentityConfig; the message lists every problem. */
export class IdentityConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "IdentityConfigError";
  }
}

/** A refusal on its way to becoming an AuthError, with the reason it is counted under. */
class Refusal extends Error {
  readonly reason: FailureReason;
  constructor(reason: FailureReason, description: string) {
    super(description);
    this.reason = reason;
  }
}

function refuse(reason: FailureReason, description: string): never {
  throw new Refusal(reason, description);
}

export function createAuthenticator(config: IdentityConfig, options: AuthenticatorOptions = {}): Authenticator {
  const problems = validateIdentityConfig(config);
  if (problems.length > 0) {
    throw new IdentityConfigError(
      `invalid identity config:\n${problems.map((problem) => `  identity.${problem.path.join(".")}: ${problem.message}`).join("\n")}`,
    );
  }
  const now = options.now ?? Date.now;
  const fetchTimeoutMs = options.fetchTimeoutMs ?? DEFAULTS.fetchTimeoutMs;
  const maxTokenBytes = options.maxTokenBytes ?? DEFAULTS.maxTokenBytes;
  const skew = config.clockSkewSeconds;
  const requiredScopes = [...new Set(config.requiredScopes)];

  const stats: AuthenticatorStats = {
    requests: 0,
    verifications: 0,
    cacheHits: 0,
    keySetLoads: 0,
    failures: Object.fromEntries(FAILURE_REASONS.map((reason) => [reason, 0])) as Record<FailureReason, number>,
  };
  const timing = {
    now,
    fetchTimeoutMs,
    refetchCooldownMs: options.refetchCooldownMs ?? DEFAULTS.refetchCooldownMs,
    maxAgeMs: options.keySetMaxAgeMs ?? DEFAULTS.keySetMaxAgeMs,
    onLoad: () => void stats.keySetLoads++,
  };

  const issuers = config.issuers.map((issuer) => buildIssuer(issuer, timing));
  const byIss = new Map(issuers.filter((issuer) => issuer.expectedIssuer !== undefined).map((issuer) => [issuer.expectedIssuer!, issuer]));
  const byTrustDomain = new Map(issuers.filter((issuer) => issuer.trustDomain !== undefined).map((issuer) => [issuer.trustDomain!, issuer]));
  const cache = new IdentityCache(options.cacheEntries ?? DEFAULTS.cacheEntries);

  function selectIssuer(claims: JWTPayload): IssuerRuntime {
    if (typeof claims.iss === "string") {
      const issuer = byIss.get(claims.iss);
      if (issuer !== undefined) return issuer;
    }
    const spiffeId = parseSpiffeId(claims.sub);
    if (spiffeId !== undefined) {
      const issuer = byTrustDomain.get(spiffeId.trustDomain);
      if (issuer !== undefined) return issuer;
      refuse("unknown_issuer", "the token's SPIFFE trust domain is not trusted");
    }
    refuse("unknown_issuer", "no configured issuer matches the token's iss");
  }

  async function verifySignatureAndClaims(token: string, issuer: IssuerRuntime, nowMs: number): Promise<JWTPayload> {
    const verifyOptions: JWTVerifyOptions = {
      algorithms: issuer.algorithms,
      audience: config.audience,
      clockTolerance: skew,
      requiredClaims: ["exp", "sub"],
      currentDate: new Date(nowMs),
      ...(issuer.expectedIssuer === undefined ? {} : { issuer: issuer.expectedIssuer }),
    };
    try {
      return (await jwtVerify(token, issuer.resolveKey, verifyOptions)).payload;
    } catch (error) {
      // A token without kid against a set with several usable keys: jose hands us the candidates to try.
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw error;
      let tried = 0;
      for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
        if (++tried > MAX_KEY_CANDIDATES) break;
        try {
          return (await jwtVerify(token, key, verifyOptions)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  }

  async function verifyUncached(token: string, nowMs: number): Promise<AgentIdentity> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let unverified: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      unverified = decodeJwt(token);
    } catch {
      refuse("malformed", "the token is not a well-formed JWT");
    }
    const issuer = selectIssuer(unverified);
    if (typeof header.alg !== "string" || !issuer.algorithms.includes(header.alg)) {
      refuse("algorithm", "the token's algorithm is not allowed for its issuer");
    }

    stats.verifications++;
    const claims = await verifySignatureAndClaims(token, issuer, nowMs);
    const nowSeconds = Math.floor(nowMs / 1000);
    if (typeof claims.iat === "number" && claims.iat > nowSeconds + skew) refuse("not_yet_valid", "the token's iat is in the future");
    if (typeof claims.sub !== "string" || claims.sub === "") refuse("claims", "the token's sub must be a non-empty string");
    if (typeof claims.exp !== "number") refuse("claims", "the token's exp must be a number");

    const identity: AgentIdentity = {
      agentId: "",
      issuer: issuer.name,
      subject: claims.sub,
      scopes: parseScopes(claims),
      claims: claims as Record<string, unknown>,
      expiresAt: claims.exp,
    };
    const derived: DerivedValues = {};
    if (issuer.kind === "kubernetes") {
      const workload = kubernetesWorkload(claims);
      if (typeof workload === "string") refuse("identity", workload);
      identity.namespace = derived["kubernetes.namespace"] = workload.namespace;
      identity.serviceAccount = derived["kubernetes.serviceAccount"] = workload.serviceAccount;
    }
    if (issuer.kind === "spiffe") {
      const spiffeId = parseSpiffeId(claims.sub);
      if (spiffeId === undefined || spiffeId.trustDomain !== issuer.trustDomain) refuse("identity", "the token's sub is not a SPIFFE ID in the trusted domain");
      identity.trustDomain = derived["spiffe.trustDomain"] = spiffeId.trustDomain;
      derived["spiffe.path"] = spiffeId.path;
      derived["spiffe.id"] = claims.sub;
    }
    const agentId = renderAgentId(issuer.template, claims, derived);
    if (agentId === undefined) refuse("identity", "the issuer's agentId template cannot be resolved from the token's claims");
    identity.agentId = agentId;
    return deepFreeze(identity);
  }

  function checkScopes(identity: AgentIdentity): AgentIdentity {
    if (requiredScopes.length === 0) return identity;
    const missing = requiredScopes.filter((scope) => !identity.scopes.includes(scope));
    if (missing.length === 0) return identity;
    stats.failures.insufficient_scope++;
    throw new AuthError(403, "insufficient_scope", `the token lacks required scope(s): ${missing.join(" ")}`, missing);
  }

  async function verify(token: string): Promise<AgentIdentity> {
    stats.requests++;
    const nowMs = now();
    let identity: AgentIdentity;
    try {
      if (typeof token !== "string" || token.trim() === "") {
        refuse("missing_token", "a bearer token is required");
      }
      if (token.length > maxTokenBytes) refuse("too_large", "token too large");
      const key = tokenKey(token);
      const cached = cache.get(key, Math.floor(nowMs / 1000));
      if (cached !== undefined) {
        stats.cacheHits++;
        return checkScopes(cached);
      }
      identity = await verifyUncached(token, nowMs);
      cache.set(key, identity);
    } catch (error) {
      if (error instanceof AuthError) throw error;
      const refusal = error instanceof Refusal ? error : classify(error);
      stats.failures[refusal.reason]++;
      log().debug({ reason: refusal.reason, description: refusal.message }, "token refused");
      const code = refusal.reason === "missing_token" ? "invalid_request" : "invalid_token";
      throw new AuthError(401, code, refusal.message);
    }
    return checkScopes(identity);
  }

  async function warmUp(): Promise<IssuerLoadResult[]> {
    return Promise.all(
      issuers.map(async (issuer): Promise<IssuerLoadResult> => {
        if (issuer.keySet === undefined) return { issuer: issuer.name, ok: true };
        try {
          await issuer.keySet.refresh();
          return { issuer: issuer.name, ok: true };
        } catch (error) {
          return { issuer: issuer.name, ok: false, error: (error as Error).message };
        }
      }),
    );
  }

  return {
    verify,
    warmUp,
    stats: () => ({ ...stats, failures: { ...stats.failures } }),
  };
}

/** jose's and our own errors → a counted reason and a description safe for the client. */
function classify(error: unknown): Refusal {
  if (error instanceof KeySetUnavailableError) return new Refusal("keys_unavailable", "the issuer's signing keys are unavailable");
  if (error instanceof errors.JWTExpired) return new Refusal("expired", "the token has expired");
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === "nbf") return new Refusal("not_yet_valid", "the token is not valid yet (nbf)");
    if (error.reason === "missing") return new Refusal("claims", `the token lacks the required "${error.claim}" claim`);
    return new Refusal("claims", `the token's "${error.claim}" claim is not acceptable`);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new Refusal("signature", "signature verification failed");
  if (error instanceof errors.JOSEAlgNotAllowed) return new Refusal("algorithm", "the token's algorithm is not allowed for its issuer");
  if (error instanceof errors.JWKSNoMatchingKey) return new Refusal("unknown_key", "no signing key of the issuer matches the token's kid");
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JWKInvalid) return new Refusal("keys_unavailable", "the issuer's signing keys are unusable");
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid || error instanceof errors.JOSENotSupported) {
    return new Refusal("malformed", "the token is not a well-formed JWT");
  }
  log().error({ err: error }, "unexpected error while verifying a token");
  return new Refusal("internal", "token verification failed");
}
