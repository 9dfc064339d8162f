/**
 * ES256 signing keys persisted in the data directory: the dev issuer's and the gateway's own. The private key is a
 * JWK file with mode 0600 in a 0700 folder; the public half is published beside it as `jwks.json`.
 *
 * Creation is atomic (write a temp file, then link(2) it into place, which fails if another process won the race),
 * so two gateways starting at once on one data directory end up with the same key rather than one overwriting
 * the other's.
 */
import { randomBytes } from "node:crypto";
import { chmod, link, mkdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import path from "node:path";
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import { logger } from "../log.ts";

/** Looked up per use, not at import: `serve --stdio` points the root logger at stderr after modules load. */
const log = () => logger("identity");

export const PRIVATE_KEY_FILE = "private.jwk.json";
export const PUBLIC_JWKS_FILE = "jwks.json";

export interface StoredSigningKey {
  kid: string;
  privateKey: CryptoKey;
  /** Includes `d`; never log or publish it. */
  privateJwk: JWK;
  /** The public half with kid, alg and use: what goes into a JWKS. */
  publicJwk: JWK;
  /** Absolute path of the published public JWKS file. */
  jwksFile: string;
}

/** Loads the ES256 key in `dir`, creating it (and the folder) on first use. */
export async function loadOrCreateSigningKey(dir: string): Promise<StoredSigningKey> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privatePath = path.join(dir, PRIVATE_KEY_FILE);
  let privateJwk = await readPrivateJwk(privatePath);
  if (privateJwk === undefined) {
    privateJwk = await createPrivateJwk(privatePath);
  }
  const publicJwk = publicHalf(privateJwk);
  const jwksFile = path.join(dir, PUBLIC_JWKS_FILE);
  await publishPublicJwks(jwksFile, publicJwk);
  const privateKey = (await importJWK(privateJwk, "ES256")) as CryptoKey;
  return { kid: publicJwk.kid!, privateKey, privateJwk, publicJwk, jwksFile };
}

async function readPrivateJwk(file: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    log().warn({ file, mode: mode.toString(8) }, "private key file was readable by others; restricting it to 0600");
    await chmod(file, 0o600);
  }
  let jwk: JWK;
  try {
    jwk = JSON.parse(text) as JWK;
  } catch {
    throw new Error(`${file} is not valid JSON; move it away to have a new key created`);
  }
  if (jwk.kty !== "EC" || jwk.crv !== "P-256" || typeof jwk.d !== "string" || typeof jwk.kid !== "string") {
    throw new Error(`${file} is not an ES256 (EC P-256) private JWK with a kid; move it away to have a new key created`);
  }
  return jwk;
}

async function createPrivateJwk(file: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const jwk = await exportJWK(privateKey);
  const kid = await calculateJwkThumbprint({ kty: jwk.kty!, crv: jwk.crv!, x: jwk.x!, y: jwk.y! });
  const privateJwk: JWK = { ...jwk, kid, alg: "ES256", use: "sig" };

  const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temp, JSON.stringify(privateJwk, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  try {
    await link(temp, file);
    log().info({ file, kid }, "created a new ES256 signing key");
    return privateJwk;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    // Another process created it between our read and our link: theirs wins, so both use one key.
    const theirs = await readPrivateJwk(file);
    if (theirs === undefined) throw error;
    return theirs;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
}

function publicHalf(privateJwk: JWK): JWK {
  return { kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x, y: privateJwk.y, kid: privateJwk.kid, alg: "ES256", use: "sig" };
}

/** Writes jwks.json unless it already publishes exactly this key (it is derived data, so rewriting is safe). */
async function publishPublicJwks(file: string, publicJwk: JWK): Promise<void> {
  const wanted = JSON.stringify({ keys: [publicJwk] }, null, 2) + "\n";
  const existing = await readFile(file, "utf8").catch(() => undefined);
  if (existing === wanted) return;
  const temp = `${file}.${randomBytes(6).toString("hex")}.tmp`;
  await writeFile(temp, wanted, { mode: 0o644 });
  await rename(temp, file);
}
