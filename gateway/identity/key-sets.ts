/**
 * Where an issuer's verification keys come from, and when they are fetched again.
 *
 * One `KeySet` per issuer, whatever the source (a JWKS URL, OIDC discovery, a SPIFFE bundle, a file). We do the
 * fetching ourselves rather than use jose's createRemoteJWKSet because SPIFFE bundles need filtering before jose may
 * see them (jose rejects `use: "jwt-svid"`), and one implementation gives every source the same timeout, size
 * limit, rate limit and counters. jose's createLocalJWKSet still selects and imports the keys.
 */
import { readFile } from "node:fs/promises";
import { createLocalJWKSet, errors, type CryptoKey, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters, type LocalJWKSet } from "jose";
import { logger } from "../log.ts";

/** Looked up per use, not at import: `serve --stdio` points the root logger at stderr after modules load. */
const log = () => logger("identity");

/** A JWKS larger than this is refused: no honest issuer publishes a megabyte of keys. */
const MAX_DOCUMENT_BYTES = 1024 * 1024;
/** After a failed load, at most one new attempt per this long (capped by the refetch cooldown). */
const FAILURE_BACKOFF_MS = 5_000;

/** The issuer's keys could not be loaded (unreachable, timed out, not a JWKS). Safe-to-show message. */
export class KeySetUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "KeySetUnavailableError";
  }
}

export interface KeySetTiming {
  now: () => number;
  fetchTimeoutMs: number;
  refetchCooldownMs: number;
  maxAgeMs: number;
  /** Called once per load attempt, for the counters. */
  onLoad: () => void;
}

/** Produces a parsed JWKS document. Throws KeySetUnavailableError with a loggable reason. */
export type KeySetLoader = () => Promise<JSONWebKeySet>;

export class KeySet {
  readonly #name: string;
  readonly #load: KeySetLoader;
  readonly #timing: KeySetTiming;
  #local: LocalJWKSet | undefined;
  #loadedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #lastAttemptFailed = false;
  #pending: Promise<void> | undefined;

  constructor(name: string, load: KeySetLoader, timing: KeySetTiming) {
    this.#name = name;
    this.#load = load;
    this.#timing = timing;
  }

  /** A jose key resolver: the key for this header, refetching once (rate-limited) on an unknown kid. */
  async getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<CryptoKey> {
    const local = await this.#current();
    try {
      return await local(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey) || !this.#mayRefetch()) throw error;
      log().info({ issuer: this.#name, kid: header.kid?.slice(0, 64) }, "unknown kid; refetching the issuer's keys");
      await this.refresh();
      return this.#local!(header, token);
    }
  }

  /** Loads (or reloads) now. Concurrent callers share one load. Throws KeySetUnavailableError when it fails. */
  refresh(): Promise<void> {
    this.#pending ??= this.#loadOnce().finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #current(): Promise<LocalJWKSet> {
    if (this.#local === undefined) {
      const sinceAttempt = this.#timing.now() - this.#attemptedAt;
      if (this.#pending === undefined && this.#lastAttemptFailed && sinceAttempt < this.#failureBackoffMs()) {
        throw new KeySetUnavailableError("the issuer's signing keys could not be loaded; retrying shortly");
      }
      await this.refresh();
      return this.#local!;
    }
    if (this.#timing.now() - this.#loadedAt >= this.#timing.maxAgeMs && this.#mayRetryAfterFailure()) {
      // Stale: refresh in the background; the keys we have keep serving, and a failure keeps them.
      this.refresh().catch(() => undefined);
    }
    return this.#local;
  }

  #mayRefetch(): boolean {
    return this.#pending !== undefined || this.#timing.now() - this.#attemptedAt >= this.#timing.refetchCooldownMs;
  }

  #mayRetryAfterFailure(): boolean {
    return this.#pending === undefined && (!this.#lastAttemptFailed || this.#timing.now() - this.#attemptedAt >= this.#failureBackoffMs());
  }

  #failureBackoffMs(): number {
    return Math.min(FAILURE_BACKOFF_MS, this.#timing.refetchCooldownMs);
  }

  async #loadOnce(): Promise<void> {
    this.#attemptedAt = this.#timing.now();
    this.#timing.onLoad();
    try {
      const document = await this.#load();
      const local = createLocalJWKSet(document);
      this.#local = local;
      this.#loadedAt = this.#timing.now();
      this.#lastAttemptFailed = false;
      log().debug({ issuer: this.#name, keys: document.keys.length }, "issuer keys loaded");
    } catch (cause) {
      this.#lastAttemptFailed = true;
      const error = cause instanceof KeySetUnavailableError ? cause : new KeySetUnavailableError("the issuer's key set is not a valid JWKS", { cause });
      log().warn({ issuer: this.#name, reason: error.message, keepingOldKeys: this.#local !== undefined }, "loading issuer keys failed");
      throw error;
    }
  }
}

/** A JWKS served over HTTP(S). */
export function httpJwksLoader(url: string, timeoutMs: number): KeySetLoader {
  return async () => asKeySet(await fetchJson(url, timeoutMs, "JWKS"), "JWKS");
}

/**
 * OIDC discovery: `{issuer}/.well-known/openid-configuration` → `jwks_uri`. The document's `issuer` must equal the
 * configured one (OIDC Discovery §4.3), so a look-alike document cannot point us at someone else's keys. The
 * jwks_uri is remembered after the first success; a failure is retried on the next load.
 */
export function discoveryJwksLoader(issuer: string, timeoutMs: number): KeySetLoader {
  let jwksUri: string | undefined;
  return async () => {
    if (jwksUri === undefined) {
      const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
      const metadata = await fetchJson(url, timeoutMs, "discovery document");
      if (!isRecord(metadata) || metadata.issuer !== issuer) {
        throw new KeySetUnavailableError("the discovery document's issuer does not match the configured issuer");
      }
      if (typeof metadata.jwks_uri !== "string" || !/^https?:\/\//.test(metadata.jwks_uri)) {
        throw new KeySetUnavailableError("the discovery document has no http(s) jwks_uri");
      }
      jwksUri = metadata.jwks_uri;
    }
    return asKeySet(await fetchJson(jwksUri, timeoutMs, "JWKS"), "JWKS");
  };
}

/** A JWKS file (re-read on an unknown kid, so a rotated mounted secret is picked up). */
export function fileJwksLoader(path: string): KeySetLoader {
  return async () => {
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (cause) {
      throw new KeySetUnavailableError(`cannot read the key file ${path}`, { cause });
    }
    if (text.length > MAX_DOCUMENT_BYTES) throw new KeySetUnavailableError(`the key file ${path} is too large`);
    return asKeySet(parseJson(text, "key file"), "key file");
  };
}

/**
 * A SPIFFE bundle: a JWKS whose JWT-SVID keys say `use: "jwt-svid"` (and X.509 ones `use: "x509-svid"`). jose
 * accepts only `use: "sig"` or none, so keep the jwt-svid keys (and any without `use`) and strip the field.
 */
export function spiffeBundleLoader(inner: KeySetLoader): KeySetLoader {
  return async () => {
    const bundle = await inner();
    const keys = bundle.keys
      .filter((key) => key.use === undefined || key.use === "jwt-svid")
      .map((key): JWK => {
        const { use: _use, ...rest } = key;
        return rest;
      });
    return { keys };
  };
}

async function fetchJson(url: string, timeoutMs: number, what: string): Promise<unknown> {
  const where = describeUrl(url);
  let response: Response;
  try {
    // No redirects: a key URL that moves is a config change, not something to follow silently (as jose does).
    response = await fetch(url, {
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
      headers: { accept: "application/json, application/jwk-set+json" },
    });
  } catch (cause) {
    const timedOut = cause instanceof Error && cause.name === "TimeoutError";
    throw new KeySetUnavailableError(timedOut ? `${what} fetch from ${where} timed out after ${timeoutMs} ms` : `${what} fetch from ${where} failed`, { cause });
  }
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new KeySetUnavailableError(`${what} fetch from ${where} answered HTTP ${response.status}`);
  }
  let text: string;
  try {
    text = await readLimited(response, MAX_DOCUMENT_BYTES);
  } catch (cause) {
    const timedOut = cause instanceof Error && cause.name === "TimeoutError";
    throw new KeySetUnavailableError(timedOut ? `${what} fetch from ${where} timed out after ${timeoutMs} ms` : `${what} from ${where} could not be read`, { cause });
  }
  return parseJson(text, what);
}

async function readLimited(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get("content-length") ?? NaN);
  if (declared > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new Error("response too large");
  }
  if (response.body === null) return "";
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new Error("response too large");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new KeySetUnavailableError(`the ${what} is not valid JSON`, { cause });
  }
}

function asKeySet(value: unknown, what: string): JSONWebKeySet {
  if (!isRecord(value) || !Array.isArray(value.keys) || !value.keys.every(isRecord)) {
    throw new KeySetUnavailableError(`the ${what} is not a JWK set (no "keys" array of objects)`);
  }
  return value as unknown as JSONWebKeySet;
}

/** Origin and path only: a query string may carry credentials, and logs must not. */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "(invalid URL)";
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
