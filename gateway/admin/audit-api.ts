/**
 * GET /admin/audit: the auditors' query API. A token needs the configured read scope (default audit:read); an
 * agent's token without it gets 403. Every query is itself recorded, so the log shows who read it.
 *
 * Query parameters: agent, server, tool, method, decision, since, until (RFC 3339 or 15m/2h/7d), limit (1…1000,
 * default 100), cursor (from the previous page's nextCursor).
 */
import type { Context } from "hono";
import { CorruptLogError, DECISION_RESULTS, MAX_QUERY_LIMIT, parseTime, QueryError, queryAudit, type AuditFilter, type AuditLog, type DecisionResult } from "../audit/index.ts";
import type { AuditStage } from "../pipeline/index.ts";
import { auditUnavailableResponse, requireScope, type AuthOutcome } from "../http/index.ts";

export interface AuditApiDeps {
  authenticate: (c: Context) => Promise<AuthOutcome>;
  audit: () => { log: AuditLog; readScope: string } | undefined;
  stage: AuditStage;
}

const FILTER_KEYS = ["agent", "server", "tool", "method", "decision", "since", "until"] as const;
const KNOWN_KEYS = new Set<string>([...FILTER_KEYS, "limit", "cursor"]);
const DEFAULT_LIMIT = 100;

/** The filter from the query string; throws QueryError naming the bad parameter. */
export function filterFromQuery(query: Record<string, string>): { filter: AuditFilter; limit: number; cursor?: string } {
  for (const key of Object.keys(query)) if (!KNOWN_KEYS.has(key)) throw new QueryError(`unknown query parameter "${key}"; use: ${[...KNOWN_KEYS].join(", ")}`);
  const filter: AuditFilter = {};
  for (const key of ["agent", "server", "tool", "method"] as const) if (query[key] !== undefined) filter[key] = query[key];
  if (query.decision !== undefined) {
    if (!(DECISION_RESULTS as readonly string[]).includes(query.decision)) throw new QueryError(`decision must be one of: ${DECISION_RESULTS.join(", ")}`);
    filter.decision = query.decision as DecisionResult;
  }
  if (query.since !== undefined) filter.since = parseTime(query.since, "since");
  if (query.until !== undefined) filter.until = parseTime(query.until, "until");
  let limit = DEFAULT_LIMIT;
  if (query.limit !== undefined) {
    limit = Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) throw new QueryError(`limit must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
  }
  return { filter, limit, cursor: query.cursor };
}

export function createAuditApi(deps: AuditApiDeps) {
  return async function get(c: Context): Promise<Response> {
    const audit = deps.audit();
    if (audit === undefined) return c.json({ error: "not_found", error_description: "auditing is disabled on this gateway" }, 404);
    const authenticated = await deps.authenticate(c);
    if ("response" in authenticated) return authenticated.response;
    const { identity } = authenticated;
    const query = c.req.query();
    const event = { kind: "admin" as const, identity, method: "admin/audit", arguments: query, bytesIn: 0, http: { method: "GET", path: "/admin/audit" } };
    const scoped = requireScope(authenticated, audit.readScope, c);
    if ("response" in scoped) {
      await deps.stage.event({ ...event, decision: "deny", reasons: [`the token lacks scope ${audit.readScope}`], httpStatus: 403 });
      return scoped.response;
    }
    let result;
    try {
      const { filter, limit, cursor } = filterFromQuery(query);
      result = await queryAudit(audit.log.dir, filter, { limit, cursor, summaries: audit.log.summaries() });
    } catch (error) {
      if (error instanceof CorruptLogError) {
        await deps.stage.event({ ...event, decision: "none", reasons: [error.message], httpStatus: 500 });
        return c.json({ error: "corrupt_log", error_description: error.message }, 500);
      }
      if (!(error instanceof QueryError)) throw error;
      await deps.stage.event({ ...event, decision: "none", reasons: [error.message], httpStatus: 400 });
      return c.json({ error: "invalid_request", error_description: error.message }, 400);
    }
    // Reading the log is itself on the record, before the records leave.
    if (!(await deps.stage.event({ ...event, decision: "allow", reasons: [], httpStatus: 200 }))) {
      return auditUnavailableResponse();
    }
    return c.json(result);
  };
}
