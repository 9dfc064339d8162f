/**
 * `gatehouse policy replay`: re-evaluates the policy inputs kept in the audit log against a candidate bundle and
 * reports every decision that would change. The recorded input is used as it was (its clock included), with the
 * stored arguments put back into request.arguments.
 *
 * Inputs were redacted before they were written. A decision that hinges on a redacted value is marked, because
 * the candidate saw "[REDACTED]" where the live policy saw the real value.
 */
import { loadBundle, PolicyEngine, preparePolicy } from "../policy/index.ts";
import { queryAudit, type AuditFilter, type AuditRecord } from "../audit/index.ts";

export interface ReplayChange {
  seq: number;
  timestamp: string;
  agent: string | undefined;
  method: string | undefined;
  server: string | undefined;
  target: string | undefined;
  recorded: "allow" | "deny" | "error";
  candidate: "allow" | "deny" | "error";
  reasons: string[];
  /** The record's input or arguments had values redacted: the candidate may have decided on a mask. */
  redacted: boolean;
}

export interface ReplayReport {
  replayed: number;
  /** Records with no policy input (pings, lists, refusals before policy). */
  skipped: number;
  changes: ReplayChange[];
}

/** The live policy's own verdict, before dry-run turned a deny into an allow. */
function recordedVerdict(record: AuditRecord): ReplayChange["recorded"] | undefined {
  switch (record.decision.result) {
    case "allow":
      return "allow";
    case "deny":
    case "dry-run-deny":
      return "deny";
    case "error":
      return "error";
    default:
      return undefined;
  }
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** The input as the live policy saw it, arguments put back; undefined when a redaction took the request whole. */
export function replayInput(record: AuditRecord): Record<string, unknown> | undefined {
  if (!isObject(record.input) || !isObject(record.input.request)) return undefined;
  const request = { ...record.input.request };
  if (record.arguments !== undefined) request.arguments = record.arguments;
  return { ...record.input, request };
}

export async function replayAudit(options: { bundle: string; dir: string; filter: AuditFilter }): Promise<ReplayReport> {
  const engine = new PolicyEngine({ mode: "enforce", timeBudgetMs: Number.POSITIVE_INFINITY });
  engine.swap(await preparePolicy(await loadBundle(options.bundle), {}));
  const report: ReplayReport = { replayed: 0, skipped: 0, changes: [] };
  let cursor: string | undefined;
  do {
    const page = await queryAudit(options.dir, options.filter, { limit: 1_000, cursor });
    for (const record of page.records) {
      const recorded = recordedVerdict(record);
      const input = replayInput(record);
      if (recorded === undefined || input === undefined) {
        report.skipped++;
        continue;
      }
      report.replayed++;
      const outcome = engine.evaluate(input);
      const candidate = outcome.effect === "error" ? "error" : outcome.allow ? "allow" : "deny";
      if (candidate === recorded) continue;
      report.changes.push({
        seq: record.seq,
        timestamp: record.timestamp,
        agent: record.agent?.id,
        method: record.method,
        server: record.server,
        target: record.tool ?? record.prompt ?? record.uri,
        recorded,
        candidate,
        reasons: outcome.reasons,
        redacted: (record.redacted?.pointers ?? []).some((p) => p.startsWith("/input") || p.startsWith("/arguments")),
      });
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return report;
}

export function formatReplay(report: ReplayReport): string {
  const lines = report.changes.map(
    (c) =>
      `seq ${c.seq} ${c.timestamp} ${c.agent ?? "-"} ${c.method ?? ""} ${c.server ?? ""}/${c.target ?? ""}: ` +
      `${c.recorded} -> ${c.candidate}${c.redacted ? " (input had redacted values)" : ""}` +
      (c.reasons.length > 0 ? `  [${c.reasons.join("; ")}]` : ""),
  );
  const count = (from: string, to: string) => report.changes.filter((c) => c.recorded === from && c.candidate === to).length;
  lines.push(
    `replayed ${report.replayed} decisions (${report.skipped} records had no policy decision); ${report.changes.length} would change: ` +
      `${count("allow", "deny")} allow->deny, ${count("deny", "allow")} deny->allow, ` +
      `${report.changes.filter((c) => c.recorded === "error" || c.candidate === "error").length} to or from error`,
  );
  return lines.map((l) => `${l}\n`).join("");
}
