/**
 * Signed checkpoints: every N records or T seconds the writer signs (head hash, count, time) with the gateway key
 * as a compact JWS and appends it to checkpoints.jsonl. A checkpoint pins the chain up to its head, so removing
 * records behind it (truncation) is detected. Retention checkpoints also carry the anchor that lets the chain
 * start mid-way once old segments are cut.
 */
import { appendFile, open, readFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { CompactSign, compactVerify, importJWK, type CryptoKey, type JWK } from "jose";
import { CHECKPOINTS_FILE } from "./segments.ts";

export const CHECKPOINT_TYPE = "gatehouse-audit-checkpoint+jws";

export interface CheckpointPayload {
  kind: "checkpoint" | "retention";
  replica: string;
  /** The head record's seq: every record 1…seq is covered. */
  seq: number;
  /** The head record's hash. */
  head: string;
  /** RFC 3339, when the checkpoint was signed. */
  time: string;
  /** Retention only: records 1…removedThroughSeq were cut; the first kept record's prev must equal `anchor`. */
  removedThroughSeq?: number;
  anchor?: string;
  removedSegments?: string[];
}

export interface CheckpointSigner {
  kid: string;
  privateKey: CryptoKey;
}

export async function signCheckpoint(signer: CheckpointSigner, payload: CheckpointPayload): Promise<string> {
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload)))
    .setProtectedHeader({ alg: "ES256", kid: signer.kid, typ: CHECKPOINT_TYPE })
    .sign(signer.privateKey);
}

/** Appends one JWS line; the caller fsyncs via the writer's own handle discipline (appendFile + datasync). */
export async function appendCheckpoint(dir: string, jws: string): Promise<void> {
  await appendFile(path.join(dir, CHECKPOINTS_FILE), `${jws}\n`, { flush: true });
}

export interface CheckpointLine {
  line: number;
  payload?: CheckpointPayload;
  kid?: string;
  /** Why this checkpoint is not trustworthy (bad JWS, unknown key, bad signature, bad payload). */
  problem?: string;
}

/**
 * The file's complete lines, and a last line without its newline apart (`torn`): an append cut short by a crash,
 * never followed by another checkpoint (the writer cuts it when it next opens the directory).
 */
export async function readCheckpointLines(dir: string): Promise<{ lines: string[]; torn?: string }> {
  let text: string;
  try {
    text = await readFile(path.join(dir, CHECKPOINTS_FILE), "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return { lines: [] };
    throw error;
  }
  const lines = text.split("\n");
  const last = lines.pop()!;
  return { lines: lines.filter((l) => l.trim() !== ""), torn: last === "" ? undefined : last };
}

/** Cuts a torn last checkpoint line, so the next append starts a line of its own instead of extending it. */
export async function cutTornCheckpoint(dir: string): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path.join(dir, CHECKPOINTS_FILE), "r+");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw error;
  }
  try {
    const { size } = await handle.stat();
    const last = Buffer.alloc(1);
    if (size === 0 || ((await handle.read(last, 0, 1, size - 1)).bytesRead === 1 && last[0] === 0x0a)) return false;
    const text = await handle.readFile();
    await handle.truncate(text.lastIndexOf(0x0a) + 1);
    await handle.sync();
    return true;
  } finally {
    await handle.close();
  }
}

/** Verifies each checkpoint against the trusted keys (a JWKS's keys, matched by kid). */
export async function verifyCheckpoints(lines: readonly string[], trusted: readonly JWK[]): Promise<CheckpointLine[]> {
  const keys = new Map<string, CryptoKey>();
  // Checkpoints are ES256: other keys in a shared JWKS (an RSA signing key, say) cannot have signed one.
  for (const jwk of trusted) {
    if (jwk.kid !== undefined && jwk.kty === "EC" && jwk.crv === "P-256") keys.set(jwk.kid, (await importJWK({ ...jwk, alg: "ES256" }, "ES256")) as CryptoKey);
  }
  const results: CheckpointLine[] = [];
  for (const [index, jws] of lines.entries()) {
    const line = index + 1;
    let header: { kid?: string; typ?: string; alg?: string };
    try {
      header = JSON.parse(Buffer.from(jws.split(".")[0] ?? "", "base64url").toString("utf8")) as typeof header;
    } catch {
      results.push({ line, problem: "not a compact JWS" });
      continue;
    }
    // Any JSON parses above: null or a number would throw below, outside this function's reporting.
    if (typeof header !== "object" || header === null || (header.kid !== undefined && typeof header.kid !== "string")) {
      results.push({ line, problem: "not a compact JWS" });
      continue;
    }
    const key = header.kid === undefined ? undefined : keys.get(header.kid);
    if (key === undefined) {
      results.push({ line, kid: header.kid, problem: `signed by key ${JSON.stringify(header.kid)}, which is not in the trusted key set` });
      continue;
    }
    try {
      const { payload, protectedHeader } = await compactVerify(jws, key, { algorithms: ["ES256"] });
      if (protectedHeader.typ !== CHECKPOINT_TYPE) throw new Error(`typ is not ${CHECKPOINT_TYPE}`);
      const parsed = JSON.parse(new TextDecoder().decode(payload)) as CheckpointPayload;
      if (!Number.isSafeInteger(parsed.seq) || typeof parsed.head !== "string") throw new Error("payload lacks seq/head");
      results.push({ line, kid: header.kid, payload: parsed });
    } catch (error) {
      results.push({ line, kid: header.kid, problem: `signature check failed: ${(error as Error).message}` });
    }
  }
  return results;
}
