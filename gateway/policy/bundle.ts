/**
 * Reading an OPA bundle built by `opa build -t wasm -e gatehouse/authz/decision ...`: a `.tar.gz` holding
 * `/policy.wasm`, `/data.json`, `/.manifest` (with `revision`), the Rego sources, and `/.signatures.json` when
 * signed. Everything is read and checked before anything is handed to the engine; an error names the bundle and
 * the problem (`bundle X: policy.wasm missing`).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { posix } from "node:path";
import { readTarGz } from "./tar.ts";
import { verifyBundleSignatures, type SignatureInfo, type VerificationKey } from "./signatures.ts";
import { PolicyBundleError, type PolicyVerifyConfig } from "./types.ts";

export interface BundleManifest {
  revision?: string;
  roots?: string[];
  wasm?: { entrypoint: string; module: string }[];
  rego_version?: number;
  metadata?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface LoadedBundle {
  /** Where it came from (path or URL), for messages. */
  source: string;
  /** The manifest's revision; undefined when the manifest has none (or is absent). */
  revision: string | undefined;
  /** sha256 (hex) of the archive as read: equal digests mean nothing changed. */
  digest: string;
  wasm: Uint8Array;
  /** The data document (every data.json merged at its directory path). */
  data: Record<string, unknown>;
  /** The data document as JSON bytes, handed to the policy as is (numbers keep their written form). */
  dataJson: Uint8Array;
  manifest: BundleManifest;
  /** Every file in the archive, normalized (no leading "/"). */
  files: string[];
  /** Present when the bundle was verified. */
  signature?: SignatureInfo;
}

export interface BundleOptions {
  /** Verify `.signatures.json` against this key; an unsigned bundle is then refused. */
  verify?: PolicyVerifyConfig;
  /** Keys already read from verify.keyFile (the reloader reads the file once per reload). */
  keys?: VerificationKey[];
  /** Bound on the uncompressed archive. Default 64 MiB. */
  maxBytes?: number;
}

const WASM_MAGIC = [0x00, 0x61, 0x73, 0x6d];

/** Reads and checks a bundle archive already in memory. Throws PolicyBundleError. */
export async function parseBundle(archive: Uint8Array, source: string, options: BundleOptions = {}): Promise<LoadedBundle> {
  const fail = (message: string, cause?: unknown): PolicyBundleError => new PolicyBundleError(source, message, { cause });
  const digest = createHash("sha256").update(archive).digest("hex");
  let files: Map<string, Uint8Array>;
  try {
    files = await readTarGz(archive, { maxBytes: options.maxBytes });
  } catch (error) {
    throw fail((error as Error).message, error);
  }

  let signature: SignatureInfo | undefined;
  if (options.verify !== undefined) {
    try {
      signature = await verifyBundleSignatures(files, options.verify, options.keys);
    } catch (error) {
      throw fail((error as Error).message, error);
    }
  }

  const wasm = files.get("policy.wasm");
  if (wasm === undefined) throw fail("policy.wasm missing (build it with `opa build -t wasm`)");
  if (wasm.byteLength < 8 || WASM_MAGIC.some((byte, index) => wasm[index] !== byte)) throw fail("policy.wasm is not a WebAssembly module");

  let manifest: BundleManifest = {};
  const manifestBytes = files.get(".manifest");
  if (manifestBytes !== undefined) {
    const parsed = parseJson(manifestBytes, ".manifest", fail);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw fail(".manifest is not a JSON object");
    manifest = parsed as BundleManifest;
    if (manifest.revision !== undefined && typeof manifest.revision !== "string") throw fail(".manifest revision is not a string");
    if (manifest.type !== undefined && manifest.type !== "snapshot") throw fail(`.manifest type ${JSON.stringify(manifest.type)} is not supported (snapshot bundles only)`);
  }

  const { data, dataJson } = readData(files, fail);
  const revision = typeof manifest.revision === "string" && manifest.revision !== "" ? manifest.revision : undefined;
  const bundle: LoadedBundle = { source, revision, digest, wasm, data, dataJson, manifest, files: [...files.keys()] };
  if (signature !== undefined) bundle.signature = signature;
  return bundle;
}

/** Reads a bundle file from disk. Throws PolicyBundleError (a missing file included). */
export async function readBundleFile(path: string, options: BundleOptions = {}): Promise<LoadedBundle> {
  return parseBundle(await readArchive(path), path, options);
}

/** The archive's bytes, or PolicyBundleError("file not found" / "cannot read: CODE"). */
export async function readArchive(path: string, name = path): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PolicyBundleError(name, code === "ENOENT" ? "file not found" : `cannot read: ${code ?? (error as Error).message}`, { cause: error });
  }
}

/** Reads a bundle from a path or an http(s) URL (one GET, no caching: the reloader does ETags). */
export async function loadBundle(source: string, options: BundleOptions & { timeoutMs?: number } = {}): Promise<LoadedBundle> {
  if (!isUrl(source)) return readBundleFile(source, options);
  const name = displaySource(source);
  const maxBytes = options.maxBytes ?? 64 * 1024 * 1024;
  const { url, headers } = bundleRequest(source);
  let response: Response;
  try {
    response = await fetch(url, { headers, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
  } catch (error) {
    throw new PolicyBundleError(name, `fetch failed: ${describeFetchError(error, source)}`, { cause: error });
  }
  if (!response.ok) throw new PolicyBundleError(name, `HTTP ${response.status}`);
  return parseBundle(await readBody(response, maxBytes, name), name, options);
}

export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** A source fit for logs and errors: a URL loses its user info and query (presigned URLs carry credentials there). */
export function displaySource(source: string): string {
  if (!isUrl(source)) return source;
  try {
    const url = new URL(source);
    const query = url.search === "" ? "" : "?…";
    return `${url.protocol}//${url.host}${url.pathname}${query}`;
  } catch {
    return "<invalid URL>";
  }
}

/** Reads a response body, refusing more than maxBytes (compressed bundles are small; this bounds a bad server). */
export async function readBody(response: Response, maxBytes: number, source: string): Promise<Uint8Array> {
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) throw new PolicyBundleError(source, `response of ${declared} bytes exceeds ${maxBytes}`);
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body !== null) {
    for await (const chunk of response.body) {
      total += chunk.byteLength;
      if (total > maxBytes) throw new PolicyBundleError(source, `response exceeds ${maxBytes} bytes`);
      chunks.push(chunk);
    }
  }
  return Buffer.concat(chunks, total);
}

/** What fetch() is given for a bundle URL: user info moves into a Basic Authorization header (fetch refuses it in URLs). */
export function bundleRequest(source: string): { url: string; headers: Record<string, string> } {
  const url = new URL(source);
  const headers: Record<string, string> = { accept: "application/gzip, application/octet-stream, */*" };
  if (url.username !== "" || url.password !== "") {
    const user = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    headers.authorization = `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;
    url.username = "";
    url.password = "";
  }
  return { url: url.toString(), headers };
}

/** A fetch failure in a few words, never echoing the URL (it may carry credentials). */
export function describeFetchError(error: unknown, source: string): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === "TimeoutError") return "timed out";
  let text: string;
  if (cause?.code !== undefined && cause.message !== undefined && !cause.message.includes(cause.code)) text = `${cause.code}: ${cause.message}`;
  else text = cause?.code ?? cause?.message ?? (error as Error).message;
  return text.replaceAll(source, displaySource(source)).replace(/\b[a-z]+:\/\/[^\s]*@[^\s]*/gi, "<url>");
}

function parseJson(bytes: Uint8Array, name: string, fail: (message: string) => PolicyBundleError): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes)); // TextDecoder drops a BOM, like OPA
  } catch (error) {
    throw fail(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Root data.json is passed through as bytes; data.json files in directories are merged at their path, as OPA does. */
function readData(
  files: Map<string, Uint8Array>,
  fail: (message: string) => PolicyBundleError,
): { data: Record<string, unknown>; dataJson: Uint8Array } {
  const dataFiles = [...files.keys()].filter((name) => {
    const base = posix.basename(name);
    if (base === "data.yaml" || base === "data.yml") throw fail(`${name}: YAML data files are not supported (use data.json)`);
    return base === "data.json";
  });
  const data: Record<string, unknown> = {};
  for (const name of dataFiles.sort((a, b) => a.split("/").length - b.split("/").length)) {
    const value = parseJson(files.get(name) as Uint8Array, name, fail);
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw fail(`${name} is not a JSON object`);
    const dir = posix.dirname(name);
    const path = dir === "." ? [] : dir.split("/");
    let node = data;
    for (const segment of path) {
      if (!Object.hasOwn(node, segment)) setOwn(node, segment, {});
      const next = node[segment];
      if (next === null || typeof next !== "object" || Array.isArray(next)) throw fail(`${name} conflicts with data at ${path.join(".")}`);
      node = next as Record<string, unknown>;
    }
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      if (Object.hasOwn(node, key)) throw fail(`${name}: key ${JSON.stringify(key)} is defined twice in the data document`);
      setOwn(node, key, child);
    }
  }
  const root = files.get("data.json");
  const dataJson =
    dataFiles.length === 1 && root !== undefined ? stripBom(root) : new TextEncoder().encode(JSON.stringify(data));
  return { data, dataJson };
}

/** An own property even for "__proto__" (plain assignment would set the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function stripBom(bytes: Uint8Array): Uint8Array {
  return bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
}
