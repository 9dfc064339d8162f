/**
 * Turns what the pipeline knows about one request into an audit entry, redacted before it goes anywhere:
 * first the policy's `redact` obligations (JSON pointers into the policy input), then the built-in secret
 * detectors. Raw arguments are kept only under `audit.arguments: raw`, and even then the policy's pointers apply.
 */
import { randomUUID } from "node:crypto";
import type { AgentIdentity } from "../identity/index.ts";
import type { PolicyOutcome } from "../policy/index.ts";
import { canonicalJson, deepFreeze, sha256Hex } from "../protocol/index.ts";
import type { AuditAgent, AuditDecision, AuditEntry, AuditOutcome, RecordKind } from "./record.ts";
import { maskSecrets, redactPointers } from "./redact.ts";

export type ArgumentsMode = "redacted" | "raw" | "omit";

export interface EntrySettings {
  replica: string;
  arguments: ArgumentsMode;
}

export interface RequestFacts {
  kind: RecordKind;
  identity?: AgentIdentity;
  session?: { id: string; clientInfo?: { name?: string; version?: string }; protocolVersion?: string };
  method?: string;
  route?: { server?: string; tool?: string; uri?: string; prompt?: string };
  /** As the client sent them: redacted here. */
  arguments?: unknown;
  /** The policy's decision and the input it saw; absent when no per-call decision applied. */
  policy?: { outcome: PolicyOutcome; input: Record<string, unknown> };
  /** The decision when no policy evaluation made it: deny for a refused token, allow for a served admin query, none otherwise. */
  refusal?: { result: "allow" | "deny" | "none"; reasons: string[] };
  outcome: AuditOutcome;
  timings: { totalUs: number; upstreamUs?: number };
  bytes: { in: number; out: number };
  traceId: string;
  http?: { method: string; path: string; remote?: string };
}

const KEY_CLAIMS = ["iss", "aud", "azp", "client_id", "jti", "iat", "exp"] as const;
const ARGUMENTS_POINTER = "/request/arguments";

/** One frozen agent view per verified identity: built, and serialized, once per session rather than per record. */
const agents = new WeakMap<AgentIdentity, AuditAgent>();

function agentOf(identity: AgentIdentity): AuditAgent {
  let agent = agents.get(identity);
  if (agent === undefined) {
    agent = deepFreeze(newAgent(identity));
    agents.set(identity, agent);
  }
  return agent;
}

function newAgent(identity: AgentIdentity): AuditAgent {
  const claims: Record<string, unknown> = {};
  for (const name of KEY_CLAIMS) if (identity.claims[name] !== undefined) claims[name] = identity.claims[name];
  return {
    id: identity.agentId,
    issuer: identity.issuer,
    subject: identity.subject,
    trust_domain: identity.trustDomain,
    namespace: identity.namespace,
    service_account: identity.serviceAccount,
    scopes: identity.scopes,
    claims,
  };
}

/** Keys in canonical order, so the record's hash takes the object as it is (see buildEntry). */
function decisionOf(facts: RequestFacts): AuditDecision {
  if (facts.policy === undefined) return { reasons: facts.refusal?.reasons ?? [], result: facts.refusal?.result ?? "none" };
  const { outcome } = facts.policy;
  const decision: AuditDecision = { error: outcome.error, reasons: outcome.reasons, result: outcome.effect, revision: outcome.revision };
  const shadow = outcome.shadow;
  if (shadow?.disagrees) decision.shadow = { allow: shadow.allow, reasons: shadow.reasons, revision: shadow.revision, error: shadow.error };
  return decision;
}

/** True for request.arguments itself and for its ancestors ("" and /request): a pointer that takes the arguments whole. */
const coversArguments = (p: string): boolean => p === ARGUMENTS_POINTER || ARGUMENTS_POINTER.startsWith(`${p}/`);

/** The obligation's pointers that land inside request.arguments (or cover them), rebased onto the arguments themselves. */
function argumentPointers(pointers: readonly string[]): string[] {
  return pointers.flatMap((p) => (coversArguments(p) ? [""] : p.startsWith(`${ARGUMENTS_POINTER}/`) ? [p.slice(ARGUMENTS_POINTER.length)] : []));
}

function obligationPointers(outcome: PolicyOutcome | undefined): string[] {
  const redact = outcome?.obligations.redact;
  return Array.isArray(redact) ? redact.filter((p): p is string => typeof p === "string" && (p === "" || p.startsWith("/"))) : [];
}

/**
 * The identity part of a policy input is the same object for every call of a session (policy-input.ts caches it
 * per verified identity), and its claims are where scanning costs most: mask it once.
 */
const maskedIdentities = new WeakMap<object, ReturnType<typeof maskSecrets>>();

function maskInput(input: Record<string, unknown>): ReturnType<typeof maskSecrets<Record<string, unknown>>> {
  const { identity, ...rest } = input;
  if (typeof identity !== "object" || identity === null) return maskSecrets(input);
  let maskedIdentity = maskedIdentities.get(identity);
  if (maskedIdentity === undefined) {
    maskedIdentity = maskSecrets(identity);
    // Structured-cloned before freezing: the unmasked parts are the verified identity's own objects.
    maskedIdentity = { ...maskedIdentity, value: deepFreeze(structuredClone(maskedIdentity.value)) };
    maskedIdentities.set(identity, maskedIdentity);
  }
  const others = maskSecrets(rest);
  return {
    // The input spread first fixes the key order (canonical, see policy-input.ts); the masked values replace in place.
    value: { ...input, ...others.value, identity: maskedIdentity.value },
    redacted: [...others.redacted, ...maskedIdentity.redacted.map((p) => `/identity${p}`)],
    detectors: [...new Set([...others.detectors, ...maskedIdentity.detectors])],
  };
}

export function buildEntry(facts: RequestFacts, settings: EntrySettings): AuditEntry {
  const pointers: string[] = [];
  const detectors = new Set<string>();
  const obligations = obligationPointers(facts.policy?.outcome);

  let args: unknown;
  if (facts.arguments !== undefined && settings.arguments !== "omit") {
    const byPolicy = redactPointers(facts.arguments, argumentPointers(obligations));
    pointers.push(...byPolicy.redacted.map((p) => `/arguments${p}`));
    args = byPolicy.value;
    if (settings.arguments === "redacted") {
      const masked = maskSecrets(args);
      args = masked.value;
      pointers.push(...masked.redacted.map((p) => `/arguments${p}`));
      masked.detectors.forEach((d) => detectors.add(d));
    }
  }

  let input: Record<string, unknown> | undefined;
  if (facts.policy !== undefined) {
    const { request } = facts.policy.input as { request?: Record<string, unknown> };
    const { arguments: _dropped, ...requestWithoutArguments } = request ?? {};
    // Spread first, then replaced: the input's own key order (canonical, see policy-input.ts) is kept.
    const masked = maskInput({ ...facts.policy.input, request: requestWithoutArguments });
    const byPolicy = redactPointers(masked.value, obligations.filter((p) => p !== ARGUMENTS_POINTER && !p.startsWith(`${ARGUMENTS_POINTER}/`)));
    input = byPolicy.value;
    pointers.push(...[...byPolicy.redacted, ...masked.redacted].map((p) => `/input${p}`));
    masked.detectors.forEach((d) => detectors.add(d));
  }

  // Keys in canonical (sorted) order at every level the record builds itself: canonicalJson then hashes these
  // objects as they are instead of copying each into order. `redacted` is given its place now and filled below.
  const entry: AuditEntry = {
    agent: facts.identity === undefined ? undefined : agentOf(facts.identity),
    args_sha256: facts.arguments === undefined ? undefined : sha256Hex(canonicalJson(facts.arguments)),
    arguments: args,
    bytes: facts.bytes,
    decision: decisionOf(facts),
    decision_id: randomUUID(),
    http: facts.http,
    input,
    kind: facts.kind,
    method: facts.method,
    metrics: {
      policy_us: facts.policy === undefined ? undefined : Math.round(facts.policy.outcome.evalMicros),
      total_us: facts.timings.totalUs,
      upstream_us: facts.timings.upstreamUs,
    },
    outcome: facts.outcome,
    prompt: facts.route?.prompt,
    redacted: undefined,
    replica: settings.replica,
    server: facts.route?.server,
    session:
      facts.session === undefined
        ? undefined
        : { client: facts.session.clientInfo, id: facts.session.id, protocol_version: facts.session.protocolVersion },
    timestamp: new Date().toISOString(),
    tool: facts.route?.tool,
    trace_id: facts.traceId,
    uri: facts.route?.uri,
  };
  // The other fields a client or backend can put text into: a URI with a password, an error message quoting one.
  const loose = maskSecrets({ uri: entry.uri, outcome: entry.outcome, decision: entry.decision, session: entry.session });
  if (loose.redacted.length > 0) {
    Object.assign(entry, loose.value);
    pointers.push(...loose.redacted);
    loose.detectors.forEach((d) => detectors.add(d));
  }
  if (pointers.length > 0 || detectors.size > 0) entry.redacted = { pointers: [...new Set(pointers)].sort(), detectors: [...detectors].sort() };
  return entry;
}
