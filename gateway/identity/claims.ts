/**
 * Pure functions over verified claims: scopes, the Kubernetes and SPIFFE shapes, and agentId templates.
 * Nothing here checks signatures; callers pass claims that jose has already verified.
 */

/** Scopes from `scope` (RFC 8693: space-separated) and `scp` (an array, or a string as some IdPs send it). */
export function parseScopes(claims: Record<string, unknown>): string[] {
  const scopes = new Set<string>();
  for (const value of [claims.scope, claims.scp]) {
    if (typeof value === "string") {
      for (const scope of value.split(/\s+/)) if (scope !== "") scopes.add(scope);
    } else if (Array.isArray(value)) {
      for (const scope of value) if (typeof scope === "string" && scope !== "") scopes.add(scope);
    }
  }
  return [...scopes];
}

export interface KubernetesWorkload {
  namespace: string;
  serviceAccount: string;
}

const SERVICE_ACCOUNT_SUBJECT = /^system:serviceaccount:([^:]+):([^:]+)$/;

/**
 * The namespace and service account of a Kubernetes service-account token, from `sub`
 * (`system:serviceaccount:<ns>:<name>`) and/or the `kubernetes.io` claim. When both are present they must agree,
 * so a token cannot say one thing in `sub` and another in the claim. Returns a reason string when neither is usable.
 */
export function kubernetesWorkload(claims: Record<string, unknown>): KubernetesWorkload | string {
  const fromSubject = typeof claims.sub === "string" ? SERVICE_ACCOUNT_SUBJECT.exec(claims.sub) : null;
  const subject = fromSubject ? { namespace: fromSubject[1]!, serviceAccount: fromSubject[2]! } : undefined;

  let fromClaim: KubernetesWorkload | undefined;
  const k8s = claims["kubernetes.io"];
  if (isRecord(k8s)) {
    const namespace = k8s.namespace;
    const serviceAccount = isRecord(k8s.serviceaccount) ? k8s.serviceaccount.name : undefined;
    if (typeof namespace === "string" && namespace !== "" && typeof serviceAccount === "string" && serviceAccount !== "") {
      fromClaim = { namespace, serviceAccount };
    } else {
      return "the kubernetes.io claim lacks namespace or serviceaccount.name";
    }
  }

  if (subject && fromClaim) {
    if (subject.namespace !== fromClaim.namespace || subject.serviceAccount !== fromClaim.serviceAccount) {
      return "sub and the kubernetes.io claim name different service accounts";
    }
    return subject;
  }
  return subject ?? fromClaim ?? "not a service-account token (no system:serviceaccount sub or kubernetes.io claim)";
}

export interface SpiffeId {
  trustDomain: string;
  /** The path, with its leading slash. */
  path: string;
}

const TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Parses a SPIFFE ID per the SPIFFE-ID spec (lowercase trust domain, non-empty path, no dot segments). */
export function parseSpiffeId(value: unknown): SpiffeId | undefined {
  if (typeof value !== "string" || !value.startsWith("spiffe://") || value.length > 2048) return undefined;
  const rest = value.slice("spiffe://".length);
  const slash = rest.indexOf("/");
  if (slash <= 0) return undefined;
  const trustDomain = rest.slice(0, slash);
  const path = rest.slice(slash);
  if (!TRUST_DOMAIN.test(trustDomain)) return undefined;
  const segments = path.slice(1).split("/");
  if (segments.some((segment) => !PATH_SEGMENT.test(segment) || segment === "." || segment === "..")) return undefined;
  return { trustDomain, path };
}

/** Values derived during verification; templates reach them by these reserved names. */
export interface DerivedValues {
  "kubernetes.namespace"?: string;
  "kubernetes.serviceAccount"?: string;
  "spiffe.id"?: string;
  "spiffe.trustDomain"?: string;
  "spiffe.path"?: string;
}

/**
 * Placeholders under `kubernetes.` and `spiffe.` name derived values only, so a claim shaped like them cannot stand
 * in for a verified value. `kubernetes.io.*` stays a claim path: it is the service-account token's own claim.
 */
export function derivedFamily(placeholder: string): "kubernetes" | "spiffe" | undefined {
  if (placeholder.startsWith("spiffe.")) return "spiffe";
  if (placeholder.startsWith("kubernetes.") && !placeholder.startsWith("kubernetes.io.")) return "kubernetes";
  return undefined;
}
const DERIVED_NAMES: ReadonlySet<string> = new Set([
  "kubernetes.namespace",
  "kubernetes.serviceAccount",
  "spiffe.id",
  "spiffe.trustDomain",
  "spiffe.path",
]);

type TemplatePart = { literal: string } | { placeholder: string };

export interface AgentIdTemplate {
  readonly source: string;
  readonly parts: readonly TemplatePart[];
}

const MAX_AGENT_ID_LENGTH = 256;

/** Compiles "{a.b}/{c}" once, at config time. Throws with a config-friendly message on a malformed template. */
export function compileAgentIdTemplate(source: string): AgentIdTemplate {
  const parts: TemplatePart[] = [];
  const pattern = /\{([^{}]*)\}|([^{}]+)|([{}])/g;
  for (const match of source.matchAll(pattern)) {
    if (match[3] !== undefined) throw new Error(`unbalanced "${match[3]}" in agentId template "${source}"`);
    if (match[2] !== undefined) {
      parts.push({ literal: match[2] });
      continue;
    }
    const name = match[1]!.trim();
    if (name === "" || name.split(".").some((segment) => segment === "")) {
      throw new Error(`empty placeholder or path segment in agentId template "${source}"`);
    }
    if (derivedFamily(name) !== undefined && !DERIVED_NAMES.has(name)) {
      throw new Error(`unknown derived value {${name}} in agentId template; known: ${[...DERIVED_NAMES].join(", ")}`);
    }
    parts.push({ placeholder: name });
  }
  if (!parts.some((part) => "placeholder" in part)) {
    throw new Error(`agentId template "${source}" has no placeholder, so every agent would share one id`);
  }
  return { source, parts };
}

/**
 * Renders a template over verified claims and derived values. Returns undefined when a placeholder is missing, not
 * a string or number, or the result is empty, too long or holds control characters (agent ids end up in logs and
 * metrics labels).
 */
export function renderAgentId(template: AgentIdTemplate, claims: Record<string, unknown>, derived: DerivedValues): string | undefined {
  let result = "";
  for (const part of template.parts) {
    if ("literal" in part) {
      result += part.literal;
      continue;
    }
    const value = DERIVED_NAMES.has(part.placeholder)
      ? derived[part.placeholder as keyof DerivedValues]
      : claimAtPath(claims, part.placeholder.split("."));
    if (typeof value === "string" && value !== "") result += value;
    else if (typeof value === "number" && Number.isFinite(value)) result += String(value);
    else return undefined;
  }
  // eslint-disable-next-line no-control-regex
  if (result.length > MAX_AGENT_ID_LENGTH || /[\u0000-\u001f\u007f]/.test(result)) return undefined;
  return result;
}

/**
 * Looks up a dotted path. Claim names may contain dots themselves ("kubernetes.io"), so at each level the longest
 * run of segments that names an existing key wins: "kubernetes.io.namespace" finds claims["kubernetes.io"].namespace.
 */
export function claimAtPath(value: unknown, segments: readonly string[]): unknown {
  if (segments.length === 0) return value;
  if (!isRecord(value)) return undefined;
  for (let take = segments.length; take >= 1; take--) {
    const key = segments.slice(0, take).join(".");
    if (Object.hasOwn(value, key)) return claimAtPath(value[key], segments.slice(take));
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
