/**
 * OPA bundle signatures (`.signatures.json`), checked the way OPA's bundle reader does (v1/bundle/verify.go):
 * exactly one compact JWS, verified with jose against the configured key; its payload lists every file with a
 * hash; every file but the signatures file must be listed with a matching hash, and every listed file must exist.
 *
 * Hashing follows OPA's hash.go: files named data.json or .manifest (by basename) are hashed in a canonical JSON
 * form (object keys sorted bytewise, no whitespace, numbers exactly as written, strings as Go's encoder writes
 * them without HTML escaping); every other file is hashed as raw bytes.
 */
import { createHash, createPublicKey, type JsonWebKey, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { compactVerify, decodeProtectedHeader } from "jose";
import type { PolicyVerifyConfig } from "./types.ts";

export const SIGNATURES_FILE = ".signatures.json";

/** OPA's hash algorithm names → Node's. MD5 and SHA-1 are refused (OPA accepts them). */
const HASHES: Record<string, string> = {
  "SHA-224": "sha224",
  "SHA-256": "sha256",
  "SHA-384": "sha384",
  "SHA-512": "sha512",
  "SHA-512-224": "sha512-224",
  "SHA-512-256": "sha512-256",
};

const ASYMMETRIC = /^(RS|PS|ES)(256|384|512)$|^EdDSA$|^Ed25519$/;

export interface VerificationKey {
  kid: string | undefined;
  key: KeyObject;
  algorithm: string;
}

export interface SignatureInfo {
  /** The key id the signature named (JWS kid, else payload keyid), if any. */
  keyId: string | undefined;
  algorithm: string;
  /** The files the signature covers (all of the bundle's files but the signatures file). */
  files: string[];
}

/** True for the names OPA hashes as structured JSON. YAML data files are refused before this is asked. */
export function isStructuredDoc(name: string): boolean {
  const base = posix.basename(name);
  return base === "data.json" || base === ".manifest";
}

/** The hex digest OPA records for a bundle file. Throws on an unknown algorithm or (structured files) bad JSON. */
export function opaFileHash(name: string, bytes: Uint8Array, algorithm: string): string {
  const nodeName = HASHES[algorithm];
  if (nodeName === undefined) {
    throw new Error(`${name}: hash algorithm ${JSON.stringify(algorithm)} is not accepted (use one of ${Object.keys(HASHES).join(", ")})`);
  }
  const hash = createHash(nodeName);
  hash.update(isStructuredDoc(name) ? canonicalJson(bytes, name) : bytes);
  return hash.digest("hex");
}

/** A JSON number kept as its source text: OPA decodes with UseNumber, so `1.0` and `1e3` hash as written. */
class RawNumber {
  readonly raw: string;
  constructor(raw: string) {
    this.raw = raw;
  }
}

type SourceReviver = (this: unknown, key: string, value: unknown, context?: { source?: string }) => unknown;
const keepNumbers: SourceReviver = (_key, value, context) =>
  typeof value === "number" ? new RawNumber(context?.source ?? String(value)) : value;

/** OPA's canonical serialization of a JSON document (what hash.go's walk feeds the hash), as UTF-8. */
export function canonicalJson(bytes: Uint8Array, name = "document"): Buffer {
  // TextDecoder drops a UTF-8 BOM and replaces invalid bytes with U+FFFD, as Go's decoder does.
  const text = new TextDecoder("utf-8").decode(bytes);
  let value: unknown;
  try {
    value = JSON.parse(text, keepNumbers as unknown as Parameters<typeof JSON.parse>[1]);
  } catch (error) {
    throw new Error(`${name}: invalid JSON: ${(error as Error).message}`);
  }
  const out: string[] = [];
  walk(value, out);
  // Buffer.from turns lone surrogates (from "\ud800" escapes) into U+FFFD, as Go's decoder does.
  return Buffer.from(out.join(""), "utf8");
}

function walk(value: unknown, out: string[]): void {
  if (value instanceof RawNumber) out.push(value.raw);
  else if (typeof value === "string") out.push(goString(value));
  else if (value === null || typeof value === "boolean") out.push(String(value));
  else if (Array.isArray(value)) {
    out.push("[");
    value.forEach((item, index) => {
      if (index > 0) out.push(",");
      walk(item, out);
    });
    out.push("]");
  } else {
    const object = value as Record<string, unknown>;
    out.push("{");
    sortedKeys(object).forEach((key, index) => {
      if (index > 0) out.push(",");
      out.push(goString(key), ":");
      walk(object[key], out);
    });
    out.push("}");
  }
}

/** Go sorts map keys by their UTF-8 bytes; UTF-16 order differs only beyond the BMP, so compare bytes then. */
function sortedKeys(object: Record<string, unknown>): string[] {
  const keys = Object.keys(object);
  if (keys.every((key) => /^[\u0000-\ud7ff]*$/.test(key))) return keys.sort();
  return keys
    .map((key) => ({ key, bytes: Buffer.from(key, "utf8") }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((entry) => entry.key);
}

/** Go's encoding/json string form with SetEscapeHTML(false). */
function goString(value: string): string {
  let out = '"';
  let start = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    let escaped: string | undefined;
    if (c === 0x22) escaped = '\\"';
    else if (c === 0x5c) escaped = "\\\\";
    else if (c < 0x20) {
      escaped =
        c === 0x08 ? "\\b" : c === 0x0c ? "\\f" : c === 0x0a ? "\\n" : c === 0x0d ? "\\r" : c === 0x09 ? "\\t" : `\\u00${c.toString(16).padStart(2, "0")}`;
    } else if (c === 0x2028 || c === 0x2029) escaped = `\\u${c.toString(16)}`;
    if (escaped !== undefined) {
      out += value.slice(start, i) + escaped;
      start = i + 1;
    }
  }
  return out + value.slice(start) + '"';
}

/** Reads verify.keyFile: PEM (public key, PKCS#1 RSA public key, certificate), a JWK or a JWKS. */
export async function loadVerificationKeys(config: PolicyVerifyConfig): Promise<VerificationKey[]> {
  let text: string;
  try {
    text = await readFile(config.keyFile, "utf8");
  } catch (error) {
    throw new Error(`verify.keyFile ${config.keyFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const where = `verify.keyFile ${config.keyFile}`;
  const keys: VerificationKey[] = [];
  try {
    if (text.trimStart().startsWith("{")) {
      const json = JSON.parse(text) as { keys?: unknown };
      const jwks = Array.isArray(json.keys) ? (json.keys as Record<string, unknown>[]) : [json as Record<string, unknown>];
      for (const jwk of jwks) {
        if (typeof jwk.d === "string" || jwk.kty === "oct") throw new Error("holds a private or symmetric key; give the public key");
        const key = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" });
        const kid = typeof jwk.kid === "string" ? jwk.kid : undefined;
        const alg = config.algorithm ?? (typeof jwk.alg === "string" ? jwk.alg : defaultAlgorithm(key));
        keys.push({ kid, key, algorithm: alg });
      }
    } else {
      if (/PRIVATE KEY-----/.test(text)) throw new Error("holds a private key; give the public key");
      const key = createPublicKey(text);
      keys.push({ kid: undefined, key, algorithm: config.algorithm ?? defaultAlgorithm(key) });
    }
  } catch (error) {
    throw new Error(`${where}: ${(error as Error).message}`);
  }
  if (keys.length === 0) throw new Error(`${where}: no keys`);
  for (const key of keys) {
    if (!ASYMMETRIC.test(key.algorithm)) throw new Error(`${where}: algorithm ${key.algorithm} is not accepted (RS*, PS*, ES*, EdDSA)`);
  }
  return keys;
}

function defaultAlgorithm(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return "RS256";
    case "rsa-pss":
      return "PS256";
    case "ed25519":
      return "EdDSA";
    case "ec": {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === "prime256v1") return "ES256";
      if (curve === "secp384r1") return "ES384";
      if (curve === "secp521r1") return "ES512";
      throw new Error(`unsupported EC curve ${String(curve)}`);
    }
    default:
      throw new Error(`unsupported key type ${String(key.asymmetricKeyType)}`);
  }
}

interface SignedFile {
  name: string;
  hash: string;
  algorithm: string;
}

/**
 * Verifies a bundle's files (paths normalized, without a leading "/") against its signature. Throws an Error with
 * a precise message; the caller prefixes the bundle's name.
 */
export async function verifyBundleSignatures(
  files: ReadonlyMap<string, Uint8Array>,
  config: PolicyVerifyConfig,
  keys?: VerificationKey[],
): Promise<SignatureInfo> {
  const signatureFiles = [...files.keys()].filter((name) => posix.basename(name) === SIGNATURES_FILE);
  if (signatureFiles.length === 0) throw new Error("unsigned bundle (no .signatures.json) but policy.verify is set");
  if (signatureFiles.length > 1) throw new Error(`more than one signatures file (${signatureFiles.join(", ")})`);
  const token = parseSignaturesFile(files.get(signatureFiles[0] as string) as Uint8Array);

  let headerKid: string | undefined;
  try {
    const header = decodeProtectedHeader(token);
    headerKid = typeof header.kid === "string" && header.kid !== "" ? header.kid : undefined;
  } catch (error) {
    throw new Error(`.signatures.json: malformed JWS: ${(error as Error).message}`);
  }
  const unverified = decodePayload(token.split(".")[1] ?? "");
  const tokenKid = headerKid ?? (typeof unverified.keyid === "string" && unverified.keyid !== "" ? unverified.keyid : undefined);
  if (config.keyId !== undefined && tokenKid !== undefined && tokenKid !== config.keyId) {
    throw new Error(`signed with key id ${JSON.stringify(tokenKid)}, but verify.keyId is ${JSON.stringify(config.keyId)}`);
  }
  const key = pickKey(keys ?? (await loadVerificationKeys(config)), config.keyId ?? tokenKid);

  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(token, key.key, { algorithms: [key.algorithm] }));
  } catch (error) {
    throw new Error(`bad signature: ${(error as Error).message}`);
  }
  const payload = decodePayload(Buffer.from(payloadBytes).toString("base64url"));
  if ((payload.scope ?? "") !== (config.scope ?? "")) {
    throw new Error(`signature scope ${JSON.stringify(payload.scope ?? "")} does not match verify.scope ${JSON.stringify(config.scope ?? "")}`);
  }
  const signed = signedFiles(payload.files);

  const covered: string[] = [];
  for (const [name, bytes] of files) {
    if (signatureFiles.includes(name)) continue;
    const entry = signed.get(name);
    if (entry === undefined) throw new Error(`${name} is not covered by the signature`);
    const actual = opaFileHash(name, bytes, entry.algorithm);
    if (actual !== entry.hash.toLowerCase()) throw new Error(`${name}: digest mismatch (signed ${entry.hash}, actual ${actual})`);
    covered.push(name);
  }
  const missing = [...signed.keys()].filter((name) => !files.has(name));
  if (missing.length > 0) throw new Error(`signed file(s) missing from the bundle: ${missing.join(", ")}`);
  return { keyId: tokenKid, algorithm: key.algorithm, files: covered };
}

function parseSignaturesFile(bytes: Uint8Array): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new Error(`.signatures.json: invalid JSON: ${(error as Error).message}`);
  }
  const signatures = (parsed as { signatures?: unknown } | null)?.signatures;
  if (!Array.isArray(signatures) || signatures.length !== 1 || typeof signatures[0] !== "string") {
    throw new Error(`.signatures.json: expected {"signatures": ["<one compact JWS>"]}`);
  }
  return signatures[0];
}

function decodePayload(segment: string): { files?: unknown; keyid?: unknown; scope?: unknown } {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    return value as { files?: unknown; keyid?: unknown; scope?: unknown };
  } catch (error) {
    throw new Error(`.signatures.json: malformed JWS payload: ${(error as Error).message}`);
  }
}

function pickKey(keys: VerificationKey[], wanted: string | undefined): VerificationKey {
  if (keys.length === 1) {
    const only = keys[0] as VerificationKey;
    if (wanted === undefined || only.kid === undefined || only.kid === wanted) return only;
    throw new Error(`signed with key id ${JSON.stringify(wanted)}, but verify.keyFile holds ${JSON.stringify(only.kid)}`);
  }
  if (wanted === undefined) throw new Error("the signature names no key id and verify.keyFile holds several keys (set verify.keyId)");
  const key = keys.find((candidate) => candidate.kid === wanted);
  if (key === undefined) throw new Error(`no key with id ${JSON.stringify(wanted)} in verify.keyFile`);
  return key;
}

function signedFiles(files: unknown): Map<string, SignedFile> {
  if (!Array.isArray(files) || files.length === 0) throw new Error(".signatures.json: the payload lists no files");
  const out = new Map<string, SignedFile>();
  for (const file of files as unknown[]) {
    const entry = file as Partial<SignedFile> | null;
    if (typeof entry?.name !== "string" || typeof entry.hash !== "string" || typeof entry.algorithm !== "string" || !/^[0-9a-fA-F]+$/.test(entry.hash)) {
      throw new Error(`.signatures.json: malformed file entry ${JSON.stringify(file)}`);
    }
    const name = entry.name.replace(/^\/+/, "");
    if (out.has(name)) throw new Error(`.signatures.json: ${name} is listed twice`);
    out.set(name, { name, hash: entry.hash, algorithm: entry.algorithm });
  }
  return out;
}
