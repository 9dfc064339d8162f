/**
 * One audit record: one per decision. Field names follow OPA's decision-log event where the two overlap
 * (decision_id, timestamp, labels → replica, bundles → decision.revision, input, result → decision, metrics).
 *
 * A record on disk is the canonical JSON of everything but `hash`, plus `hash`: SHA-256 over the canonical JSON
 * of the record without its `hash`, `prev` included. That is the chain.
 */
import { canonicalJson, sha256Hex } from "../protocol/index.ts";

/** The `prev` of the very first record of a chain. */
export const GENESIS = "0".repeat(64);

export type DecisionResult = "allow" | "deny" | "dry-run-deny" | "error" | "none";

export const DECISION_RESULTS: readonly DecisionResult[] = ["allow", "deny", "dry-run-deny", "error", "none"];

/** request: an MCP request the dispatcher answered. auth-failure: a refused token. rejected: refused by the transport after identity (malformed, unknown session). admin: an auditor's query. */
export type RecordKind = "request" | "auth-failure" | "rejected" | "admin";

export interface AuditAgent {
  id: string;
  issuer: string;
  subject: string;
  trust_domain?: string;
  namespace?: string;
  service_account?: string;
  scopes: string[];
  /** Key claims only (iss, aud, azp, client_id, jti, iat, exp): enough to trace the token, never the token. */
  claims: Record<string, unknown>;
}

export interface AuditDecision {
  /** none: no per-call policy decision applies (ping, lists, which are filtered item by item, or a request that failed before policy). */
  result: DecisionResult;
  reasons: string[];
  /** The live bundle's revision (OPA: bundles.<name>.revision). */
  revision?: string;
  /** Why an evaluation failed (result "error"). */
  error?: string;
  /** Present only when a shadow bundle disagreed with the live decision. */
  shadow?: { allow: boolean; reasons: string[]; revision?: string; error?: string };
}

export interface AuditOutcome {
  status: "ok" | "error";
  /** The JSON-RPC error code sent to the client. */
  code?: number;
  message?: string;
  /** tools/call results: the tool reported an error (isError: true). */
  is_error?: boolean;
  /** When the answer was an HTTP status rather than a JSON-RPC message (auth failures, malformed bodies). */
  http_status?: number;
}

/** Everything a record says, before the log gives it its place in the chain. */
export interface AuditEntry {
  kind: RecordKind;
  decision_id: string;
  timestamp: string;
  replica: string;
  agent?: AuditAgent;
  session?: { id: string; client?: { name?: string; version?: string }; protocol_version?: string };
  method?: string;
  server?: string;
  tool?: string;
  uri?: string;
  prompt?: string;
  /** Redacted unless `audit.arguments: raw`; absent under `omit`. */
  arguments?: unknown;
  /** SHA-256 of the canonical JSON of the raw arguments: matches a known payload without storing it. */
  args_sha256?: string;
  decision: AuditDecision;
  /** The policy input (redacted, its request.arguments left out: they are `arguments` above), for replay. */
  input?: Record<string, unknown>;
  outcome: AuditOutcome;
  metrics: { total_us: number; policy_us?: number; upstream_us?: number };
  bytes: { in: number; out: number };
  trace_id: string;
  /** JSON pointers (into this record) whose values were redacted, and the detectors that fired. */
  redacted?: { pointers: string[]; detectors: string[] };
  http?: { method: string; path: string; remote?: string };
}

export interface AuditRecord extends AuditEntry {
  /** 1, 2, 3, …: one chain per audit directory, across its segments. */
  seq: number;
  prev: string;
  hash: string;
}

/** Seals an entry into the chain: returns the record and its exact line (canonical JSON, no newline). */
export function sealRecord(entry: AuditEntry, seq: number, prev: string): { record: AuditRecord; line: string } {
  // Every field named, in canonical (sorted) order, so canonicalJson hashes this object without copying it into
  // order; the type makes a field added to AuditEntry but forgotten here a compile error, not a silent loss.
  const unsealed = {
    agent: entry.agent,
    args_sha256: entry.args_sha256,
    arguments: entry.arguments,
    bytes: entry.bytes,
    decision: entry.decision,
    decision_id: entry.decision_id,
    http: entry.http,
    input: entry.input,
    kind: entry.kind,
    method: entry.method,
    metrics: entry.metrics,
    outcome: entry.outcome,
    prev,
    prompt: entry.prompt,
    redacted: entry.redacted,
    replica: entry.replica,
    seq,
    server: entry.server,
    session: entry.session,
    timestamp: entry.timestamp,
    tool: entry.tool,
    trace_id: entry.trace_id,
    uri: entry.uri,
  } satisfies Record<keyof Unsealed, unknown>;
  const body = canonicalJson(unsealed);
  const hash = sha256Hex(body);
  // The line is the hashed body with `hash` appended. Verifiers parse it and rebuild the canonical form, so
  // only the hash input needs canonical order; this just avoids serializing twice.
  const line = `${body.slice(0, -1)},"hash":"${hash}"}`;
  return { record: { ...unsealed, hash }, line };
}

type Unsealed = Omit<AuditRecord, "hash">;

/** Recomputes a parsed record's hash; equal to `record.hash` when nothing was edited. */
export function recomputeHash(record: Record<string, unknown>): string {
  const { hash: _hash, ...rest } = record;
  return sha256Hex(canonicalJson(rest));
}
