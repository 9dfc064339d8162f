/**
 * The dev issuer: a local ES256 key so that the embedded default config still runs on real, signed JWTs. The
 * default config trusts it as `{ name: dev, kind: static, issuer: gatehouse-dev, jwksFile: <dataDir>/dev-issuer/jwks.json }`
 * and `gatehouse token mint` signs with it. Anyone who can read the data directory can mint tokens, which is why
 * it is a dev convenience and the private key is 0600.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { SignJWT, type JWK } from "jose";
import { loadOrCreateSigningKey } from "./key-store.ts";

/** The dev issuer's folder under the data directory. */
export const DEV_ISSUER_DIR = "dev-issuer";
/** The `iss` the default config expects from the dev issuer. */
export const DEV_ISSUER = "gatehouse-dev";

export interface DevIssuer {
  issuer: string;
  /** Absolute path of the public JWKS, for a static issuer's jwksFile. */
  jwksFile: string;
  /** Includes the private part; never log it. */
  privateJwk: JWK;
}

/** Creates the dev issuer's keypair on first run, and reuses it afterwards. */
export async function ensureDevIssuer(dataDir: string): Promise<DevIssuer> {
  const key = await loadOrCreateSigningKey(path.join(path.resolve(dataDir), DEV_ISSUER_DIR));
  return { issuer: DEV_ISSUER, jwksFile: key.jwksFile, privateJwk: key.privateJwk };
}

export interface DevTokenRequest {
  dataDir: string;
  /** Default "gatehouse-dev". */
  issuer?: string;
  audience: string;
  /** Becomes `sub`, and with the default "{sub}" template the agent id. */
  agent: string;
  scopes?: string[];
  /** Lifetime from now. Negative values mint an already-expired token, which tests of expiry need. */
  ttlSeconds: number;
}

export async function mintDevToken(request: DevTokenRequest): Promise<string> {
  if (request.agent === "") throw new Error("mintDevToken: agent must not be empty");
  if (!Number.isInteger(request.ttlSeconds)) throw new Error("mintDevToken: ttlSeconds must be an integer");
  const key = await loadOrCreateSigningKey(path.join(path.resolve(request.dataDir), DEV_ISSUER_DIR));
  const now = Math.floor(Date.now() / 1000);
  const scopes = request.scopes ?? [];
  return new SignJWT(scopes.length === 0 ? {} : { scope: scopes.join(" ") })
    .setProtectedHeader({ alg: "ES256", kid: key.kid, typ: "JWT" })
    .setIssuer(request.issuer ?? DEV_ISSUER)
    .setSubject(request.agent)
    .setAudience(request.audience)
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + request.ttlSeconds)
    .setJti(randomUUID())
    .sign(key.privateKey);
}
