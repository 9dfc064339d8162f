/**
 * From issuer config to what verification needs: the allowed algorithms, the expected `iss`, the compiled agentId
 * template and a key resolver. Also the config checks, which run before anything is built: a typo in a security
 * setting must fail loudly, not verify with a looser rule.
 */
import type { CryptoKey, FlattenedJWSInput, JWSHeaderParameters } from "jose";
import { compileAgentIdTemplate, derivedFamily, type AgentIdTemplate } from "./claims.ts";
import { discoveryJwksLoader, fileJwksLoader, httpJwksLoader, KeySet, spiffeBundleLoader, type KeySetLoader, type KeySetTiming } from "./key-sets.ts";
import type { IdentityConfig, IssuerConfig } from "./types.ts";

const ASYMMETRIC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"];
const HMAC_ALGORITHMS = ["HS256", "HS384", "HS512"];
/** JWT-SVID spec: RSA, ECDSA and RSA-PSS only. */
const SPIFFE_ALGORITHMS = /^(RS|ES|PS)(256|384|512)$/;
/** RFC 7518 §3.2: an HMAC key at least as long as the hash output; we ask for the HS256 minimum everywhere. */
const MIN_SECRET_BYTES = 32;
const MAX_CLOCK_SKEW_SECONDS = 600;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

export interface IdentityConfigProblem {
  /** Path inside the `identity` config object, e.g. ["issuers", 0, "algorithms"]. */
  path: (string | number)[];
  message: string;
}

/** Checks an identity config; an empty list means createAuthenticator will accept it. */
export function validateIdentityConfig(config: IdentityConfig): IdentityConfigProblem[] {
  const problems: IdentityConfigProblem[] = [];
  const problem = (path: (string | number)[], message: string) => problems.push({ path, message });

  if (typeof config.audience !== "string" || config.audience.trim() === "") problem(["audience"], "must be a non-empty string");
  if (!Number.isFinite(config.clockSkewSeconds) || config.clockSkewSeconds < 0 || config.clockSkewSeconds > MAX_CLOCK_SKEW_SECONDS) {
    problem(["clockSkewSeconds"], `must be between 0 and ${MAX_CLOCK_SKEW_SECONDS}`);
  }
  if (config.issuers.length === 0) problem(["issuers"], "at least one issuer is needed; with none, every token is refused");

  const names = new Map<string, number>();
  const issuerUrls = new Map<string, number>();
  const trustDomains = new Map<string, number>();
  config.issuers.forEach((issuer, index) => {
    const at = (...rest: (string | number)[]) => ["issuers", index, ...rest];
    const firstWithName = names.get(issuer.name);
    if (firstWithName !== undefined) problem(at("name"), `"${issuer.name}" is already the name of issuers[${firstWithName}]`);
    else names.set(issuer.name, index);

    if (issuer.kind === "spiffe") {
      if (!TRUST_DOMAIN.test(issuer.trustDomain)) problem(at("trustDomain"), "must be a SPIFFE trust domain (lowercase letters, digits, dots, dashes, underscores)");
      const first = trustDomains.get(issuer.trustDomain);
      if (first !== undefined) problem(at("trustDomain"), `trust domain "${issuer.trustDomain}" is already served by issuers[${first}]`);
      else trustDomains.set(issuer.trustDomain, index);
    } else {
      if (typeof issuer.issuer !== "string" || issuer.issuer === "") problem(at("issuer"), "must be a non-empty string");
      const first = issuerUrls.get(issuer.issuer);
      if (first !== undefined) problem(at("issuer"), `iss "${issuer.issuer}" is already claimed by issuers[${first}]`);
      else issuerUrls.set(issuer.issuer, index);
    }

    checkAlgorithms(issuer, (message) => problem(at("algorithms"), message));
    checkKeySource(issuer, (field, message) => problem(at(field), message));
    try {
      const template = compileAgentIdTemplate(issuer.agentId);
      for (const part of template.parts) {
        if (!("placeholder" in part)) continue;
        const family = derivedFamily(part.placeholder);
        if (family !== undefined && family !== issuer.kind) {
          problem(at("agentId"), `{${part.placeholder}} exists only for ${family} issuers`);
        }
      }
    } catch (error) {
      problem(at("agentId"), (error as Error).message);
    }
  });
  return problems;
}

function checkAlgorithms(issuer: IssuerConfig, problem: (message: string) => void): void {
  if (!Array.isArray(issuer.algorithms) || issuer.algorithms.length === 0) {
    problem("must list at least one algorithm");
    return;
  }
  const hasSecret = issuer.kind === "static" && issuer.secret !== undefined;
  for (const algorithm of issuer.algorithms) {
    if (algorithm.toLowerCase() === "none") problem('"none" is never accepted: unsigned tokens prove nothing');
    else if (HMAC_ALGORITHMS.includes(algorithm)) {
      if (!hasSecret) problem(`${algorithm} needs a shared secret, which only a static issuer with "secret" has (anything else invites algorithm confusion)`);
    } else if (!ASYMMETRIC_ALGORITHMS.includes(algorithm)) {
      problem(`unknown algorithm "${algorithm}"; known: ${[...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS].join(", ")}`);
    } else if (issuer.kind === "spiffe" && !SPIFFE_ALGORITHMS.test(algorithm)) {
      problem(`${algorithm} is not allowed for JWT-SVIDs; use RS*, ES* or PS*`);
    }
  }
}

function checkKeySource(issuer: IssuerConfig, problem: (field: string, message: string) => void): void {
  const checkUrl = (field: string, url: string | undefined) => {
    if (url !== undefined && !/^https?:\/\/[^/]/.test(url)) problem(field, "must be an http(s) URL");
  };
  const checkPath = (field: string, path: string | undefined) => {
    if (path !== undefined && !path.startsWith("/")) problem(field, "must be an absolute path");
  };
  switch (issuer.kind) {
    case "oidc":
    case "kubernetes": {
      const sources = [issuer.jwksUri !== undefined, issuer.discovery === true, issuer.jwksFile !== undefined].filter(Boolean).length;
      if (sources !== 1) problem("jwksUri", "exactly one of jwksUri, discovery: true or jwksFile is needed");
      checkUrl("jwksUri", issuer.jwksUri);
      checkPath("jwksFile", issuer.jwksFile);
      if (issuer.discovery === true) checkUrl("issuer", issuer.issuer);
      return;
    }
    case "spiffe": {
      if ((issuer.bundleUri !== undefined) === (issuer.bundleFile !== undefined)) problem("bundleUri", "exactly one of bundleUri or bundleFile is needed");
      checkUrl("bundleUri", issuer.bundleUri);
      checkPath("bundleFile", issuer.bundleFile);
      return;
    }
    case "static": {
      checkPath("jwksFile", issuer.jwksFile);
      const wantsHmac = issuer.algorithms.some((algorithm) => HMAC_ALGORITHMS.includes(algorithm));
      const wantsKeys = issuer.algorithms.some((algorithm) => ASYMMETRIC_ALGORITHMS.includes(algorithm));
      if (issuer.secret !== undefined && Buffer.byteLength(issuer.secret) < MIN_SECRET_BYTES) {
        problem("secret", `must be at least ${MIN_SECRET_BYTES} bytes`);
      }
      if (issuer.secret !== undefined && !wantsHmac) problem("algorithms", "a secret is set, but no HS256/384/512 algorithm is allowed");
      if (wantsKeys && issuer.jwksFile === undefined) problem("jwksFile", "asymmetric algorithms need a jwksFile");
      if (issuer.secret === undefined && issuer.jwksFile === undefined) problem("jwksFile", "a static issuer needs a jwksFile or a secret");
      return;
    }
  }
}

/** What verify() needs of one issuer. */
export interface IssuerRuntime {
  name: string;
  kind: IssuerConfig["kind"];
  /** The exact `iss` to require; undefined for SPIFFE, where `iss` is optional and the trust domain decides. */
  expectedIssuer: string | undefined;
  trustDomain: string | undefined;
  algorithms: string[];
  template: AgentIdTemplate;
  keySet: KeySet | undefined;
  resolveKey: (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | Uint8Array>;
}

export function buildIssuer(issuer: IssuerConfig, timing: KeySetTiming): IssuerRuntime {
  const loader = keySetLoader(issuer, timing.fetchTimeoutMs);
  const keySet = loader === undefined ? undefined : new KeySet(issuer.name, loader, timing);
  const secret = issuer.kind === "static" && issuer.secret !== undefined ? new TextEncoder().encode(issuer.secret) : undefined;
  const algorithms = [...new Set(issuer.algorithms)];

  const resolveKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey | Uint8Array> => {
    // The allow-list was checked before, and jose checks it again; this keeps a secret from ever meeting a non-HS alg
    // and a public key from ever meeting an HS alg, whatever the list says.
    if (header.alg !== undefined && HMAC_ALGORITHMS.includes(header.alg)) {
      if (secret === undefined) throw new Error("unreachable: HS algorithm without a secret passed the allow-list");
      return secret;
    }
    if (keySet === undefined) throw new Error("unreachable: asymmetric algorithm without a key set passed the allow-list");
    return keySet.getKey(header, token);
  };

  return {
    name: issuer.name,
    kind: issuer.kind,
    expectedIssuer: issuer.kind === "spiffe" ? undefined : issuer.issuer,
    trustDomain: issuer.kind === "spiffe" ? issuer.trustDomain : undefined,
    algorithms,
    template: compileAgentIdTemplate(issuer.agentId),
    keySet,
    resolveKey,
  };
}

function keySetLoader(issuer: IssuerConfig, timeoutMs: number): KeySetLoader | undefined {
  switch (issuer.kind) {
    case "oidc":
    case "kubernetes":
      if (issuer.jwksUri !== undefined) return httpJwksLoader(issuer.jwksUri, timeoutMs);
      if (issuer.discovery === true) return discoveryJwksLoader(issuer.issuer, timeoutMs);
      return fileJwksLoader(issuer.jwksFile!);
    case "spiffe":
      return spiffeBundleLoader(issuer.bundleUri !== undefined ? httpJwksLoader(issuer.bundleUri, timeoutMs) : fileJwksLoader(issuer.bundleFile!));
    case "static":
      return issuer.jwksFile === undefined ? undefined : fileJwksLoader(issuer.jwksFile);
  }
}
