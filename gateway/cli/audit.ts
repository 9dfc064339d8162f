/**
 * `gatehouse audit verify|query|tail`: the auditor's side of the log. They read the segment files directly, so
 * they work on a copy of the directory, on a stopped gateway, or beside a running one.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import type { JWK } from "jose";
import { loadConfig } from "../config/index.ts";
import { GATEWAY_KEY_DIR } from "../identity/index.ts";
import { QueryError, queryAudit, verifyAuditDir, type AuditRecord } from "../audit/index.ts";
import { filterFromQuery } from "../admin/index.ts";
import { FORMATS, formatRecords, type OutputFormat } from "./audit-format.ts";
import { followRecords, lastRecords } from "./audit-tail.ts";

export const AUDIT_USAGE = `Usage: gatehouse audit <verify|query|tail> [options]

  audit verify [--dir D] [--jwks F]   check every record's hash, the chain across segments and the signed
                                      checkpoints; exit 0 when intact, 1 naming the first bad record
  audit query [filters] [--format table|json|csv] [--limit N] [--cursor C]
      filters: --agent A --server S --tool T --method M --decision allow|deny|dry-run-deny|error|none
               --since T --until T    (RFC 3339, or a duration back from now: 15m, 2h, 7d)
  audit tail [-n N] [-f] [--format table|json|csv]
                                      the last N records (default 10); -f keeps printing new ones

Common options:
  --config FILE   take audit.dir and the gateway key from this config (default: the embedded default)
  --dir D         the audit directory (overrides the config's)
  --jwks F        verify: the trusted public key set (default: the gateway key in the config's dataDir).
                  Pin a copy kept away from the log: whoever can edit the log must not pick the key.
  -h, --help      this text`;

const COMMON = {
  config: { type: "string" },
  dir: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

class UsageError extends Error {}

export async function audit(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    process.stdout.write(AUDIT_USAGE + "\n");
    return sub === undefined ? 2 : 0;
  }
  try {
    if (sub === "verify") return await verify(rest);
    if (sub === "query") return await query(rest);
    if (sub === "tail") return await tail(rest);
    throw new UsageError(`unknown subcommand "${sub}"`);
  } catch (error) {
    if (error instanceof UsageError || error instanceof QueryError) {
      process.stderr.write(`gatehouse audit ${sub}: ${error.message}\n\n${AUDIT_USAGE}\n`);
      return 2;
    }
    process.stderr.write(`gatehouse audit ${sub}: ${(error as Error).message}\n`);
    return 1;
  }
}

type ParseOptions = NonNullable<NonNullable<Parameters<typeof parseArgs>[0]>["options"]>;

function parse(argv: string[], options: ParseOptions) {
  try {
    return parseArgs({ args: argv, options: { ...COMMON, ...options }, strict: true, allowPositionals: false }).values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** The audit dir and data dir from --dir / --config / the embedded default. */
async function locate(values: Record<string, unknown>): Promise<{ dir: string; dataDir: string }> {
  const loaded = await loadConfig(typeof values.config === "string" ? values.config : undefined);
  if (!loaded.ok) throw new Error(`config: ${loaded.errors.join("; ")}`);
  const dir = typeof values.dir === "string" ? path.resolve(values.dir) : loaded.config.audit.dir;
  return { dir, dataDir: loaded.config.dataDir };
}

async function readJwks(file: string): Promise<JWK[]> {
  const parsed = JSON.parse(await readFile(file, "utf8")) as { keys?: JWK[] } & JWK;
  return Array.isArray(parsed.keys) ? parsed.keys : [parsed];
}

async function verify(argv: string[]): Promise<number> {
  const values = parse(argv, { jwks: { type: "string" } });
  if (values.help) return usage();
  const { dir, dataDir } = await locate(values);
  const jwksFile = typeof values.jwks === "string" ? values.jwks : path.join(dataDir, GATEWAY_KEY_DIR, "jwks.json");
  const keys = await readJwks(jwksFile).catch((error: unknown) => {
    throw new Error(`trusted keys ${jwksFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  });
  const report = await verifyAuditDir(dir, keys);
  for (const warning of report.warnings) process.stderr.write(`warning: ${warning}\n`);
  const kids = keys.map((k) => k.kid).join(", ");
  if (!report.ok) {
    const { file, line, seq, reason } = report.problem!;
    process.stdout.write(`FAIL ${path.join(dir, file)}${line === undefined ? "" : `:${line}`}${seq === undefined ? "" : ` (seq ${seq})`}: ${reason}\n`);
    return 1;
  }
  process.stdout.write(
    `OK ${dir}: ${report.records} records (seq ${report.firstSeq}…${report.lastSeq}) in ${report.segments} segments, ` +
      `${report.checkpoints} signed checkpoints (key ${kids}); head ${report.head}\n`,
  );
  return 0;
}

const FILTER_FLAGS = ["agent", "server", "tool", "method", "decision", "since", "until"] as const;

function formatOf(values: Record<string, unknown>): OutputFormat {
  const format = (values.format as string | undefined) ?? "table";
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be one of: ${FORMATS.join(", ")}`);
  return format as OutputFormat;
}

async function query(argv: string[]): Promise<number> {
  const values = parse(argv, {
    ...Object.fromEntries(FILTER_FLAGS.map((f) => [f, { type: "string" }])),
    format: { type: "string" },
    limit: { type: "string" },
    cursor: { type: "string" },
  });
  if (values.help) return usage();
  const format = formatOf(values);
  const { dir } = await locate(values);
  const params: Record<string, string> = {};
  for (const flag of FILTER_FLAGS) if (typeof values[flag] === "string") params[flag] = values[flag] as string;
  const { filter } = filterFromQuery(params);
  const wanted = values.limit === undefined ? 100 : Number(values.limit);
  if (!Number.isInteger(wanted) || wanted < 1) throw new UsageError("--limit must be a positive integer");
  // The CLI pages internally, so --limit may exceed one API page.
  const records: AuditRecord[] = [];
  let cursor = values.cursor as string | undefined;
  let next: string | undefined;
  do {
    const page = await queryAudit(dir, filter, { limit: Math.min(1_000, wanted - records.length), cursor });
    records.push(...page.records);
    next = page.nextCursor;
    cursor = next;
  } while (next !== undefined && records.length < wanted);
  process.stdout.write(formatRecords(records, format));
  if (next !== undefined) process.stderr.write(`more records match: --cursor ${next}\n`);
  return 0;
}

async function tail(argv: string[]): Promise<number> {
  const values = parse(argv, { n: { type: "string", short: "n" }, follow: { type: "boolean", short: "f", default: false }, format: { type: "string" } });
  if (values.help) return usage();
  const format = formatOf(values);
  const count = values.n === undefined ? 10 : Number(values.n);
  if (!Number.isInteger(count) || count < 0) throw new UsageError("-n must be a non-negative integer");
  const { dir } = await locate(values);
  const last = await lastRecords(dir, count);
  process.stdout.write(formatRecords(last.records, format));
  if (!values.follow) return 0;
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  await followRecords(dir, last.position, stop.signal, (records) => {
    // Table headers once; later batches print rows only.
    process.stdout.write(formatRecords(records, format, { header: false }));
  });
  return 0;
}

function usage(): number {
  process.stdout.write(AUDIT_USAGE + "\n");
  return 0;
}
