/**
 * Audit records for people and for spreadsheets: a fixed-width table (so `tail -f` rows line up without
 * re-measuring), JSON lines, or RFC 4180 CSV with spreadsheet formula injection neutralized.
 */
import type { AuditRecord } from "../audit/index.ts";

export const FORMATS = ["table", "json", "csv"] as const;
export type OutputFormat = (typeof FORMATS)[number];

function target(r: AuditRecord): string {
  return r.tool ?? r.prompt ?? r.uri ?? "";
}

function outcome(r: AuditRecord): string {
  if (r.outcome.status === "ok") return r.outcome.is_error ? "tool-error" : "ok";
  if (r.outcome.code !== undefined) return `error ${r.outcome.code}`;
  return `http ${r.outcome.http_status ?? "?"}`;
}

const COLUMNS: ReadonlyArray<{ title: string; width: number; value: (r: AuditRecord) => string }> = [
  { title: "SEQ", width: 8, value: (r) => String(r.seq) },
  { title: "TIME", width: 24, value: (r) => r.timestamp },
  { title: "AGENT", width: 20, value: (r) => r.agent?.id ?? "-" },
  { title: "METHOD", width: 16, value: (r) => r.method ?? r.kind },
  { title: "SERVER", width: 12, value: (r) => r.server ?? "" },
  { title: "TARGET", width: 28, value: target },
  { title: "DECISION", width: 12, value: (r) => r.decision.result },
  { title: "OUTCOME", width: 12, value: outcome },
  { title: "MS", width: 8, value: (r) => (r.metrics.total_us / 1000).toFixed(1) },
];

function cell(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

const CSV_FIELDS: ReadonlyArray<[string, (r: AuditRecord) => unknown]> = [
  ["seq", (r) => r.seq],
  ["timestamp", (r) => r.timestamp],
  ["decision_id", (r) => r.decision_id],
  ["kind", (r) => r.kind],
  ["replica", (r) => r.replica],
  ["agent", (r) => r.agent?.id],
  ["issuer", (r) => r.agent?.issuer],
  ["session", (r) => r.session?.id],
  ["method", (r) => r.method],
  ["server", (r) => r.server],
  ["tool", (r) => r.tool],
  ["uri", (r) => r.uri],
  ["prompt", (r) => r.prompt],
  ["decision", (r) => r.decision.result],
  ["reasons", (r) => r.decision.reasons.join("; ")],
  ["revision", (r) => r.decision.revision],
  ["outcome", (r) => r.outcome.status],
  ["code", (r) => r.outcome.code],
  ["is_error", (r) => r.outcome.is_error],
  ["total_us", (r) => r.metrics.total_us],
  ["policy_us", (r) => r.metrics.policy_us],
  ["upstream_us", (r) => r.metrics.upstream_us],
  ["bytes_in", (r) => r.bytes.in],
  ["bytes_out", (r) => r.bytes.out],
  ["trace_id", (r) => r.trace_id],
  ["args_sha256", (r) => r.args_sha256],
  ["arguments", (r) => (r.arguments === undefined ? undefined : JSON.stringify(r.arguments))],
  ["hash", (r) => r.hash],
];

/** RFC 4180 quoting; a leading = + - @ (a formula to a spreadsheet) is prefixed with ' so it stays text. */
export function csvField(value: unknown): string {
  if (value === undefined || value === null) return "";
  let text = String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function formatRecords(records: readonly AuditRecord[], format: OutputFormat, options: { header?: boolean } = {}): string {
  const header = options.header ?? true;
  if (format === "json") return records.map((r) => JSON.stringify(r) + "\n").join("");
  if (format === "csv") {
    const lines = records.map((r) => CSV_FIELDS.map(([, get]) => csvField(get(r))).join(","));
    if (header) lines.unshift(CSV_FIELDS.map(([name]) => name).join(","));
    return lines.map((l) => `${l}\r\n`).join("");
  }
  const lines = records.map((r) => COLUMNS.map((c) => cell(c.value(r), c.width)).join(" ").trimEnd());
  if (header) lines.unshift(COLUMNS.map((c) => cell(c.title, c.width)).join(" ").trimEnd());
  return lines.map((l) => `${l}\n`).join("");
}
