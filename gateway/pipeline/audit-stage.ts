/**
 * The audit stage, last on the request path: every request past identity becomes one record, and the reply
 * waits until the record is as durable as `audit.durability` promises. When the log cannot write, requests are
 * refused up front (fail closed) and a reply whose record failed becomes an error: no answer leaves unrecorded.
 */
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { ErrorCode, failure, serialize, type JsonRpcRequest, type JsonRpcResponse } from "../protocol/index.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { PolicyOutcome } from "../policy/index.ts";
import type { ClientSession } from "../session/index.ts";
import { buildEntry, type AuditLog, type EntrySettings, type RequestFacts } from "../audit/index.ts";
import { logger } from "../log.ts";

const log = logger("audit-stage");

/** What handlers learn about a request on its way through; the audit stage reads it when the answer is ready. */
export interface CallTrace {
  /** What was asked for; `server` and the backend's own names once the table resolved it. */
  route?: { server?: string; tool?: string; uri?: string; prompt?: string };
  arguments?: unknown;
  policy?: { outcome: PolicyOutcome; input: Record<string, unknown> };
  upstreamUs?: number;
}

/** What the transport knows and the dispatcher does not. */
export interface RequestContext {
  /** The request's size as received; measured from the message when absent. */
  bytesIn?: number;
  /** A W3C traceparent header, when the client sent one. */
  traceparent?: string;
  /** The HTTP request it came in, for records of requests refused before the dispatcher. */
  http?: { method: string; path: string; remote?: string };
  /**
   * The answer's final form in the client's protocol family (2026-07-28 dress), applied before the answer is
   * recorded: the record, its size and the bytes sent are then of the same message.
   */
  shape?: (response: JsonRpcResponse) => JsonRpcResponse;
}

/** Something answered outside the dispatcher: a refused token, a malformed body, an unknown session, an admin query. */
export interface AuditEvent {
  kind: "auth-failure" | "rejected" | "admin";
  identity?: AgentIdentity;
  session?: ClientSession;
  method?: string;
  /** deny: refused for who the caller is; allow: served (admin); none: refused for what was sent. */
  decision: "allow" | "deny" | "none";
  reasons: string[];
  httpStatus: number;
  code?: number;
  /** Admin queries: the query parameters. */
  arguments?: unknown;
  bytesIn: number;
  traceparent?: string;
  http: { method: string; path: string; remote?: string };
}

const TRACEPARENT = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** W3C: an all-zero trace id is invalid. */
const INVALID_TRACE_ID = "0".repeat(32);

function traceIdOf(traceparent: string | undefined): string {
  const id = traceparent === undefined ? undefined : TRACEPARENT.exec(traceparent.trim())?.[1];
  // randomUUID draws from a buffered pool; randomBytes(16) is a getrandom call per request.
  return id !== undefined && id !== INVALID_TRACE_ID ? id : randomUUID().replaceAll("-", "");
}

/** The one answer for a request the audit log cannot record (fail closed). */
export function auditUnavailable(id: JsonRpcRequest["id"] | null): JsonRpcResponse {
  return failure(id, { code: ErrorCode.AuditUnavailable, message: "the audit log is unavailable, so this request is refused unrecorded" });
}

const micros = (since: number) => Math.round((performance.now() - since) * 1000);

export class AuditStage {
  private readonly log: () => AuditLog | undefined;
  private readonly settings: EntrySettings;

  constructor(auditLog: () => AuditLog | undefined, settings: EntrySettings) {
    this.log = auditLog;
    this.settings = settings;
  }

  /** Why requests must be refused now, or undefined when the log (if any) is writing. */
  unavailable(): string | undefined {
    const auditLog = this.log();
    return auditLog === undefined || auditLog.healthy ? undefined : auditLog.unavailableReason;
  }

  /** Records a finished request; returns the response to send (an error if the record could not be kept). */
  async request(session: ClientSession, request: JsonRpcRequest, trace: CallTrace, response: JsonRpcResponse, startedAt: number, context: RequestContext): Promise<JsonRpcResponse> {
    const auditLog = this.log();
    if (auditLog === undefined) return response;
    const error = "error" in response ? response.error : undefined;
    const result = "result" in response ? response.result : undefined;
    const facts: RequestFacts = {
      kind: "request",
      identity: session.identity,
      session: { id: session.id, clientInfo: session.clientInfo, protocolVersion: session.protocolVersion },
      method: request.method,
      route: trace.route,
      arguments: trace.arguments,
      policy: trace.policy,
      // Keys in canonical order here and below: the record hashes these objects without copying them into order.
      outcome:
        error === undefined
          ? { is_error: result?.isError === true ? true : undefined, status: "ok" }
          : { code: error.code, message: error.message, status: "error" },
      timings: { totalUs: micros(startedAt), upstreamUs: trace.upstreamUs },
      // serialize() keeps the text: the transport sends this same string rather than serializing again.
      bytes: { in: context.bytesIn ?? Buffer.byteLength(serialize(request)), out: Buffer.byteLength(serialize(response)) },
      traceId: traceIdOf(context.traceparent),
    };
    return (await this.record(auditLog, facts)) ? response : auditUnavailable(request.id);
  }

  /** Records an event answered outside the dispatcher; false when it could not be kept (answer 503 then). */
  async event(event: AuditEvent): Promise<boolean> {
    const auditLog = this.log();
    if (auditLog === undefined) return true;
    // A JSON-RPC error inside an HTTP 200 (a refused batch item, a failed initialize) is still an error.
    const ok = event.httpStatus < 400 && event.code === undefined;
    const facts: RequestFacts = {
      kind: event.kind,
      identity: event.identity,
      session: event.session && { id: event.session.id, clientInfo: event.session.clientInfo, protocolVersion: event.session.protocolVersion },
      method: event.method,
      arguments: event.arguments,
      refusal: { result: event.decision, reasons: event.reasons },
      outcome: ok ? { http_status: event.httpStatus, status: "ok" } : { code: event.code, http_status: event.httpStatus, message: event.reasons.join("; "), status: "error" },
      timings: { totalUs: 0 },
      bytes: { in: event.bytesIn, out: 0 },
      traceId: traceIdOf(event.traceparent),
      http: event.http,
    };
    return this.record(auditLog, facts);
  }

  private async record(auditLog: AuditLog, facts: RequestFacts): Promise<boolean> {
    try {
      await auditLog.append(buildEntry(facts, this.settings));
      return true;
    } catch (error) {
      log.error({ err: (error as Error).message, kind: facts.kind, method: facts.method }, "could not record a request; refusing it");
      return false;
    }
  }
}
