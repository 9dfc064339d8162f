/**
 * Test helpers for policy: the real `opa` binary, real bundles built from inline Rego, RSA/EC key files, and a
 * loopback HTTP server that serves a bundle with an ETag. Used only by the tests beside this file.
 */
import { execFile } from "node:child_process";
import { createHash, generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { buildWasmBundle, findOpa } from "./opa.ts";

const run = promisify(execFile);

/** The opa binary: .tools/bin/opa (npm run setup), opa on PATH, or /tmp/opa. Throws when there is none: never skip. */
export function testOpa(): string {
  const opa = findOpa(["/tmp/opa"]);
  if (opa === undefined) {
    throw new Error(
      "policy tests need the real opa binary and found none at $GATEHOUSE_OPA, .tools/bin/opa, on PATH or at /tmp/opa: run `npm run setup`",
    );
  }
  return opa;
}

export async function tempDir(label = "policy"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `gatehouse-${label}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** Grants by agent and tool glob; a tool annotated destructive needs the tools:destructive scope. */
export const GRANTS_REGO = `package gatehouse.authz

default decision := {"allow": false, "reasons": ["no grant"], "obligations": {}}

granted if {
	some grant in data.grants[input.identity.agentId]
	glob.match(grant.server, [], input.request.server)
	glob.match(grant.tool, [], input.request.tool)
}

destructive if input.tool.annotations.destructiveHint == true

decision := {"allow": true, "reasons": [], "obligations": {"audit": "full"}} if {
	granted
	not destructive
}

decision := {"allow": false, "reasons": ["destructive tool needs scope tools:destructive"], "obligations": {}} if {
	granted
	destructive
	not "tools:destructive" in input.identity.scopes
}

decision := {"allow": true, "reasons": [], "obligations": {"audit": "full"}} if {
	granted
	destructive
	"tools:destructive" in input.identity.scopes
}
`;

export const GRANTS_DATA = { grants: { demo: [{ server: "*", tool: "*" }], reader: [{ server: "files", tool: "read_*" }] } };

export interface TestBundleOptions {
  /** Where the bundle's source directory and the archive go. */
  dir: string;
  rego?: string;
  data?: unknown;
  revision?: string;
  /** File name of the archive inside dir. Default bundle.tar.gz. */
  name?: string;
  signingKey?: string;
  signingAlg?: string;
  keyId?: string;
  extraArgs?: string[];
}

/** Builds a real wasm bundle with `opa build -t wasm --bundle` and returns the archive's path. */
export async function buildTestBundle(options: TestBundleOptions): Promise<string> {
  const name = options.name ?? "bundle.tar.gz";
  const src = path.join(options.dir, `src-${name.replace(/\W/g, "_")}-${options.revision ?? "none"}`);
  await rm(src, { recursive: true, force: true });
  await mkdir(src, { recursive: true });
  await writeFile(path.join(src, "policy.rego"), options.rego ?? GRANTS_REGO);
  await writeFile(path.join(src, "data.json"), JSON.stringify(options.data ?? GRANTS_DATA));
  const out = path.join(options.dir, name);
  await buildWasmBundle({
    opa: testOpa(),
    paths: ["."],
    cwd: src,
    out,
    bundleMode: true,
    revision: options.revision,
    signingKey: options.signingKey,
    signingAlg: options.signingAlg,
    keyId: options.keyId,
    extraArgs: options.extraArgs,
  });
  return out;
}

export interface KeyFiles {
  privatePem: string;
  publicPem: string;
  publicJwk: string;
}

/** Writes a fresh key pair: <dir>/<label>.key.pem, <label>.pub.pem and <label>.pub.jwk.json. */
export async function writeKeyPair(dir: string, label: string, type: "rsa" | "ec" = "rsa"): Promise<KeyFiles> {
  const pair = type === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" });
  const files = {
    privatePem: path.join(dir, `${label}.key.pem`),
    publicPem: path.join(dir, `${label}.pub.pem`),
    publicJwk: path.join(dir, `${label}.pub.jwk.json`),
  };
  await writeFile(files.privatePem, pair.privateKey.export({ type: "pkcs8", format: "pem" }));
  await writeFile(files.publicPem, pair.publicKey.export({ type: "spki", format: "pem" }));
  await writeFile(files.publicJwk, JSON.stringify({ ...pair.publicKey.export({ format: "jwk" }), kid: label }));
  return files;
}

/** A typical tools/call input (policy input document v1, as gateway/pipeline/policy-input.ts builds it). */
export function toolsCallInput(agentId: string, tool: string, options: { server?: string; scopes?: string[]; destructive?: boolean } = {}): unknown {
  const now = Date.now();
  return {
    version: 1,
    identity: { agentId, issuer: "gatehouse-dev", subject: agentId, scopes: options.scopes ?? [], claims: { sub: agentId, aud: "gatehouse" } },
    request: { method: "tools/call", server: options.server ?? "files", tool, arguments: { path: "/tmp/x" } },
    tool: { annotations: options.destructive === true ? { destructiveHint: true } : { readOnlyHint: true }, hash: "sha256:abc" },
    session: { id: "s-1", clientInfo: { name: "test", version: "1" }, protocolVersion: "2025-11-25" },
    time: { now_ns: now * 1_000_000, rfc3339: new Date(now).toISOString() },
    gateway: { version: "0.1.0", replica: "local" },
  };
}

export interface BundleServer {
  url: string;
  /** Serves these bytes from now on (the ETag is their sha256). */
  serve(bytes: Uint8Array): void;
  serveFile(file: string): Promise<void>;
  /** Answers this status (no body) until serve() is called again. */
  fail(status: number): void;
  requests: { ifNoneMatch: string | undefined; authorization: string | undefined; status: number }[];
  close(): Promise<void>;
}

export async function startBundleServer(): Promise<BundleServer> {
  let body: Uint8Array | undefined;
  let etag: string | undefined;
  let failing: number | undefined;
  const requests: BundleServer["requests"] = [];
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const ifNoneMatch = request.headers["if-none-match"];
    let status: number;
    if (failing !== undefined) status = failing;
    else if (body === undefined) status = 404;
    else if (ifNoneMatch !== undefined && ifNoneMatch === etag) status = 304;
    else status = 200;
    requests.push({ ifNoneMatch, authorization: request.headers.authorization, status });
    if (status === 200 && body !== undefined && etag !== undefined) {
      response.writeHead(200, { "content-type": "application/gzip", etag, "content-length": body.byteLength }).end(body);
    } else {
      response.writeHead(status, etag === undefined ? {} : { etag }).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  const serve = (bytes: Uint8Array): void => {
    failing = undefined;
    body = bytes;
    etag = `"${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}"`;
  };
  return {
    url: `http://127.0.0.1:${port}/bundles/gatehouse.tar.gz`,
    serve,
    serveFile: async (file) => serve(await readFile(file)),
    fail: (status) => void (failing = status),
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Extracts an archive with the system's GNU tar into a fresh directory under `dir`; returns that directory. */
export async function extractBundle(archive: string, dir: string): Promise<string> {
  const out = await mkdtemp(path.join(dir, "x-"));
  await run("tar", ["-xzf", archive, "-C", out]);
  return out;
}

/** Packs a directory with the system's GNU tar (`--format gnu` writes 'L' long names, `pax` PAX records). */
export async function packDir(dir: string, out: string, format: "gnu" | "pax" | "ustar" = "gnu"): Promise<string> {
  await run("tar", [`--format=${format}`, "-czf", out, "-C", dir, "."]);
  return out;
}

/** Extracts, lets `mutate` change the files, and packs again: a tampered (or repaired) copy of a bundle. */
export async function repackBundle(archive: string, out: string, mutate: (dir: string) => Promise<void>, format: "gnu" | "pax" = "gnu"): Promise<string> {
  const dir = await extractBundle(archive, path.dirname(out));
  await mutate(dir);
  await packDir(dir, out, format);
  await rm(dir, { recursive: true, force: true });
  return out;
}

/** `opa sign --bundle DIR`: writes DIR/.signatures.json. */
export async function opaSign(dir: string, signingKey: string, args: string[] = []): Promise<void> {
  await run(testOpa(), ["sign", "--signing-key", signingKey, "--bundle", ".", "-o", ".", ...args], { cwd: dir });
}
