/**
 * Identity assertions for backends: the client's token never leaves the gateway. For a server configured with
 * `identity: assertion`, the gateway mints its own short-lived JWT (ES256, `sub` = agentId, `act.sub` = the gateway,
 * `aud` = the server) with the key published at /.well-known/jwks.json.
 *
 * Signing costs tens of microseconds, so minted assertions are reused per (agent, server) until shortly before they
 * expire: the hot path mostly does a Map lookup.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { SignJWT, type CryptoKey, type JSONWebKeySet, type JWK } from "jose";
import { loadOrCreateSigningKey } from "./key-store.ts";
import type { AgentIdentity } from "./types.ts";

export const GATEWAY_KEY_DIR = "gateway-key";
/** Assertions are short-lived by design: a leaked one is useless within a minute. */
export const MAX_ASSERTION_TTL_SECONDS = 60;
const CACHE_ENTRIES = 10_000;

export interface GatewayKey {
  kid: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

/** The gateway's ES256 key under `<dataDir>/gateway-key/`, created on first run like the dev issuer's. */
export async function loadOrCreateGatewayKey(dataDir: string): Promise<GatewayKey> {
  const stored = await loadOrCreateSigningKey(path.join(path.resolve(dataDir), GATEWAY_KEY_DIR));
  return { kid: stored.kid, privateKey: stored.privateKey, publicJwk: stored.publicJwk };
}

/** The document for /.well-known/jwks.json: only the public half. */
export function publicJwks(key: GatewayKey): JSONWebKeySet {
  return { keys: [{ ...key.publicJwk }] };
}

export interface AssertionRequest {
  key: GatewayKey;
  /** Becomes `iss` and `act.sub`. */
  gatewayId: string;
  identity: AgentIdentity;
  /** The backend server's name; becomes `aud`. */
  audience: string;
  /** At most 60; default 60. The assertion never outlives the agent's own token either. */
  ttlSeconds?: number;
  /** Epoch milliseconds; for tests. */
  now?: () => number;
}

interface CachedAssertion {
  token: Promise<string>;
  expiresAt: number;
}

/** Per key, so that a rotated key never serves assertions signed by its predecessor. */
const caches = new WeakMap<GatewayKey, Map<string, CachedAssertion>>();

export function mintAssertion(request: AssertionRequest): Promise<string> {
  const ttl = request.ttlSeconds ?? MAX_ASSERTION_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl <= 0 || ttl > MAX_ASSERTION_TTL_SECONDS) {
    return Promise.reject(new RangeError(`assertion ttlSeconds must be an integer in 1..${MAX_ASSERTION_TTL_SECONDS}`));
  }
  const nowSeconds = Math.floor((request.now ?? Date.now)() / 1000);
  const agentExpiry = Math.floor(request.identity.expiresAt);
  const expiresAt = Math.min(nowSeconds + ttl, agentExpiry);
  if (expiresAt <= nowSeconds) return Promise.reject(new RangeError("the agent's identity has expired"));

  let cache = caches.get(request.key);
  if (cache === undefined) caches.set(request.key, (cache = new Map()));
  const cacheKey = JSON.stringify([request.gatewayId, request.identity.agentId, request.audience, ttl]);
  const cached = cache.get(cacheKey);
  // Reuse while the backend still gets a useful lifetime, and never past the agent's own token.
  const margin = Math.min(10, Math.ceil(ttl / 2));
  if (cached !== undefined && cached.expiresAt - nowSeconds >= margin && cached.expiresAt <= agentExpiry) {
    return cached.token;
  }

  const token = new SignJWT({ act: { sub: request.gatewayId } })
    .setProtectedHeader({ alg: "ES256", kid: request.key.kid, typ: "JWT" })
    .setIssuer(request.gatewayId)
    .setSubject(request.identity.agentId)
    .setAudience(request.audience)
    .setIssuedAt(nowSeconds)
    .setExpirationTime(expiresAt)
    .setJti(randomUUID())
    .sign(request.key.privateKey);
  cache.delete(cacheKey);
  while (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  const entry: CachedAssertion = { token, expiresAt };
  cache.set(cacheKey, entry);
  // A failed signature must not be served from the cache to the next caller.
  token.catch(() => {
    if (cache.get(cacheKey) === entry) cache.delete(cacheKey);
  });
  return token;
}
