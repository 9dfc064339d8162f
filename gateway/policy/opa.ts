/**
 * The real OPA toolchain, for `gatehouse policy build`, the tests and the bench: finding the `opa` binary and
 * building a wasm bundle restricted to what @open-policy-agent/opa-wasm can run.
 */
import { execFile } from "node:child_process";
import { accessSync, constants, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { DEFAULT_ENTRYPOINT } from "./engine.ts";

const execFileAsync = promisify(execFile);
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The first executable of: $GATEHOUSE_OPA, <repo>/.tools/bin/opa, `opa` on PATH, then `extra`. */
export function findOpa(extra: string[] = []): string | undefined {
  const onPath = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, "opa"));
  const candidates = [process.env.GATEHOUSE_OPA, path.join(REPO_ROOT, ".tools/bin/opa"), ...onPath, ...extra];
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === "") continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * A fallback for when policies/capabilities.json is absent: the SDK's own capabilities.json (builtins and wasm
 * ABI versions) plus the `rego_v1` feature, without which OPA 1.x refuses to parse v1 Rego at all (the SDK's
 * file predates OPA 1.0 and lists no features). It is narrower than policies/capabilities.json: it omits
 * builtins compiled natively into policy.wasm that the SDK's file forgot (object.keys, array.reverse, ...).
 */
export function wasmCapabilities(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  // The package exports only its entry point (src/index.cjs); capabilities.json sits one level above it.
  const sdkDir = path.resolve(path.dirname(require.resolve("@open-policy-agent/opa-wasm")), "..");
  const sdk = JSON.parse(readFileSync(path.join(sdkDir, "capabilities.json"), "utf8")) as Record<string, unknown>;
  return { ...sdk, features: ["rego_v1", "keywords_in_refs"] };
}

/** The repo's capabilities file (policies/capabilities.json, kept by scripts/policy.sh), when there is one. */
function shippedCapabilities(): string | undefined {
  const file = path.join(REPO_ROOT, "policies/capabilities.json");
  try {
    accessSync(file, constants.R_OK);
    return file;
  } catch {
    return undefined;
  }
}

export interface BuildOptions {
  opa: string;
  /** Rego files, data files or directories (with `bundleMode`, bundle directories). */
  paths: string[];
  /** The output `.tar.gz`. */
  out: string;
  entrypoint?: string;
  revision?: string;
  /** `--bundle`: treat paths as bundle directories (needed for signing). */
  bundleMode?: boolean;
  /** A PEM private key: signs the bundle (`--signing-key`), with `--signing-alg` (default RS256). */
  signingKey?: string;
  signingAlg?: string;
  /** `--verification-key-id` (the JWS kid; OPA's default is "default"). */
  keyId?: string;
  /** More `opa build` flags (e.g. ["--claims-file", "claims.json"]), before the paths. */
  extraArgs?: string[];
  /** A capabilities file; default: <repo>/policies/capabilities.json, else wasmCapabilities() in a temp file. */
  capabilities?: string;
  cwd?: string;
}

/** Runs `opa build -t wasm ...`. Rejects with opa's output in the message. */
export async function buildWasmBundle(options: BuildOptions): Promise<void> {
  let tempDir: string | undefined;
  let capabilities = options.capabilities ?? shippedCapabilities();
  if (capabilities === undefined) {
    const document = JSON.stringify(wasmCapabilities());
    tempDir = await mkdtemp(path.join(tmpdir(), "gatehouse-opa-caps-"));
    capabilities = path.join(tempDir, "capabilities.json");
    await writeFile(capabilities, document);
  }
  const args = ["build", "-t", "wasm", "-e", options.entrypoint ?? DEFAULT_ENTRYPOINT, "--capabilities", capabilities, "-o", options.out];
  if (options.revision !== undefined) args.push("-r", options.revision);
  if (options.bundleMode === true || options.signingKey !== undefined) args.push("--bundle");
  if (options.signingKey !== undefined) {
    args.push("--signing-key", options.signingKey, "--signing-alg", options.signingAlg ?? "RS256");
    if (options.keyId !== undefined) args.push("--verification-key-id", options.keyId);
  }
  args.push(...(options.extraArgs ?? []), ...options.paths);
  try {
    await execFileAsync(options.opa, args, { cwd: options.cwd, maxBuffer: 16 * 1024 * 1024 });
  } catch (error) {
    // opa prints its errors on stdout or stderr depending on the command and version
    const { stdout, stderr } = error as { stdout?: unknown; stderr?: unknown };
    const output = [stderr, stdout].map((text) => String(text ?? "").trim()).filter(Boolean).join("\n");
    throw new Error(`opa build failed: ${output || (error as Error).message}`, { cause: error });
  } finally {
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true });
  }
}
