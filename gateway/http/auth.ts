/**
 * Bearer authentication on /mcp, per RFC 6750 and the MCP authorization spec: the token comes only from the
 * Authorization header, every request is verified (the identity stage caches by token hash), and failures answer
 * 401/403 with a WWW-Authenticate header that points at the RFC 9728 metadata.
 */
import type { Context } from "hono";
import { AuthError, type AgentIdentity, type Authenticator } from "../identity/index.ts";

export const PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource";

/** Used only under `serve --insecure-no-auth`: every caller is this one agent. */
export const ANONYMOUS: AgentIdentity = Object.freeze({
  agentId: "anonymous",
  issuer: "insecure-no-auth",
  subject: "anonymous",
  scopes: [],
  claims: {},
  expiresAt: Number.POSITIVE_INFINITY,
});

export type AuthOutcome = { identity: AgentIdentity } | { response: Response };

function quoted(value: string): string {
  return `"${value.replace(/["\\]/g, "")}"`;
}

export function metadataUrl(c: Context): string {
  return `${new URL(c.req.url).origin}${PROTECTED_RESOURCE_PATH}/mcp`;
}

function challenge(c: Context, status: 401 | 403, error?: AuthError): Response {
  const parts = [`resource_metadata=${quoted(metadataUrl(c))}`];
  if (error !== undefined) {
    parts.push(`error=${quoted(error.error)}`, `error_description=${quoted(error.description)}`);
    if (error.error === "insufficient_scope" && error.missingScopes.length > 0) parts.push(`scope=${quoted(error.missingScopes.join(" "))}`);
  }
  const body = { error: error?.error ?? "unauthorized", error_description: error?.description ?? "a bearer token is required" };
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "www-authenticate": `Bearer ${parts.join(", ")}` },
  });
}

/** Told of every refused token before the 401/403 leaves, so the audit trail has it (never the token itself). */
/** Resolves false when the refusal could not be recorded: then the answer is 503, since nothing leaves unrecorded. */
export type RefusalRecorder = (c: Context, status: 401 | 403, reason: string) => Promise<boolean>;

/** An HTTP-level answer the audit log could not record: 503, never the answer itself. */
export function auditUnavailableResponse(): Response {
  const body = { error: "audit_unavailable", error_description: "the audit log cannot record this request, so it is refused" };
  return new Response(JSON.stringify(body), { status: 503, headers: { "content-type": "application/json", "retry-after": "5" } });
}

export function createAuth(authenticator: Authenticator | undefined, onRefused: RefusalRecorder = async () => true): (c: Context) => Promise<AuthOutcome> {
  const refuse = async (c: Context, status: 401 | 403, error?: AuthError): Promise<AuthOutcome> => {
    const kept = await onRefused(c, status, error === undefined ? "no bearer token" : `${error.error}: ${error.description}`);
    return { response: kept ? challenge(c, status, error) : auditUnavailableResponse() };
  };
  return async (c) => {
    // A token in a URL ends up in logs and proxies' caches: refuse it even before looking at the header.
    if (c.req.url.includes("access_token") && new URL(c.req.url).searchParams.has("access_token")) {
      return refuse(c, 401, new AuthError(401, "invalid_request", "tokens are accepted only in the Authorization header"));
    }
    if (authenticator === undefined) return { identity: ANONYMOUS };
    const header = c.req.header("authorization");
    if (header === undefined) return refuse(c, 401);
    const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header);
    if (match === null) {
      return refuse(c, 401, new AuthError(401, "invalid_request", "the Authorization header must be: Bearer <token>"));
    }
    try {
      return { identity: await authenticator.verify(match[1]!) };
    } catch (error) {
      if (error instanceof AuthError) return refuse(c, error.status === 403 ? 403 : 401, error);
      return refuse(c, 401, new AuthError(401, "invalid_token", "the token could not be verified"));
    }
  };
}

/** For routes beyond /mcp (admin): the identity must also hold `scope`, else 403 insufficient_scope. */
export function requireScope(outcome: AuthOutcome, scope: string, c: Context): AuthOutcome {
  if ("response" in outcome || outcome.identity.scopes.includes(scope)) return outcome;
  const error = new AuthError(403, "insufficient_scope", `this endpoint needs scope ${scope}`, [scope]);
  return { response: challenge(c, 403, error) };
}
