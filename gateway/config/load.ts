/**
 * Loading the config: YAML text → `${VAR}` interpolation → zod validation → paths made absolute.
 *
 * Every problem is reported, one line each, so that `gatehouse config check` shows them all at once:
 *   file:line:col: reason        a YAML syntax error
 *   file:servers[1].url: reason  a validation problem at that path
 *   file: reason                 a problem with the whole file
 */
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LineCounter, isNode, parseDocument } from "yaml";
import type { Document } from "yaml";
import type { ZodError } from "zod";
import { configSchema } from "./schema.ts";
import type { ContainerServerConfig, GatewayConfig, HttpServerConfig, StdioServerConfig } from "./schema.ts";
import { formatPath, interpolateTree } from "./interpolate.ts";
import { gatewayStateIn, isInside } from "../system.ts";
import type { ConfigPath } from "./interpolate.ts";

/** A stdio server after loading: `cwd` is always set, and absolute. */
export type ResolvedStdioServerConfig = StdioServerConfig & { cwd: string };
/** A container server after loading: volume host paths and the fallback's cwd are absolute. */
export type ResolvedContainerServerConfig = Omit<ContainerServerConfig, "fallback"> & {
  fallback?: NonNullable<ContainerServerConfig["fallback"]> & { cwd: string };
};
export type ResolvedServerConfig = ResolvedStdioServerConfig | HttpServerConfig | ResolvedContainerServerConfig;

/** audit after loading: `dir` absolute, `replica` always named. */
export type ResolvedAuditSettings = GatewayConfig["audit"] & { dir: string; replica: string };

export type ResolvedConfig = Omit<GatewayConfig, "servers" | "audit"> & {
  servers: ResolvedServerConfig[];
  audit: ResolvedAuditSettings;
  /** Absolute path of the file, or a pseudo name such as "<embedded default>". */
  configFile: string;
  /** Absolute; relative paths in the config (dataDir, cwd) are resolved against it. */
  configDir: string;
};

export type ConfigResult = { ok: true; config: ResolvedConfig } | { ok: false; errors: string[] };

export interface ParseOptions {
  /** How messages name the file; also `configFile` (made absolute) unless it is a pseudo name like "<stdin>". */
  file: string;
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** The folder relative paths are resolved against. Defaults to the file's folder (the cwd for pseudo names). */
  baseDir?: string;
}

export const EMBEDDED_DEFAULT_NAME = "<embedded default>";
/** The embedded default config; its relative paths resolve against this folder. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL("./default.yaml", import.meta.url));

type Issue = ZodError["issues"][number];

function isPseudoName(file: string): boolean {
  return file.startsWith("<") && file.endsWith(">");
}

function line(file: string, at: readonly PropertyKey[], reason: string): string {
  const where = formatPath(at);
  return where === "" ? `${file}: ${reason}` : `${file}:${where}: ${reason}`;
}

/** Whether `at` names a key that is absent from its (object) parent in the input. */
function isMissing(input: unknown, at: readonly PropertyKey[]): boolean {
  if (at.length === 0) return false;
  let node: unknown = input;
  for (const segment of at.slice(0, -1)) {
    if (typeof node !== "object" || node === null) return false;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  if (typeof node !== "object" || node === null || Array.isArray(node)) return false;
  const last = at[at.length - 1] as PropertyKey;
  return !Object.hasOwn(node, last) || (node as Record<PropertyKey, unknown>)[last] === undefined;
}

function valueAt(input: unknown, at: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const segment of at) {
    if (typeof node !== "object" || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[segment];
  }
  return node;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** One zod issue as message lines (an unknown-keys issue gives one line per key). */
function describeIssue(issue: Issue, input: unknown): Array<{ at: readonly PropertyKey[]; reason: string }> {
  const at = issue.path;
  if (issue.code === "unrecognized_keys") return issue.keys.map((key) => ({ at, reason: `unknown key "${key}"` }));
  // A bad record key: the key's own rule says why ("must be an environment variable name").
  if (issue.code === "invalid_key") return [{ at, reason: issue.issues[0]?.message ?? issue.message }];
  if (isMissing(input, at)) {
    const reason = issue.code === "invalid_type" ? `required (expected ${issue.expected})` : `required: ${issue.message}`;
    return [{ at, reason }];
  }
  if (issue.code === "invalid_type") {
    return [{ at, reason: `expected ${issue.expected}, got ${typeName(valueAt(input, at))}` }];
  }
  return [{ at, reason: issue.message }];
}

/**
 * The schema's name/alias uniqueness check runs only once everything else parses. This repeats it on the raw
 * input (same message), so that a duplicate is reported together with the other problems.
 */
function duplicateNameIssues(input: unknown): Array<{ at: ConfigPath; reason: string }> {
  const servers = valueAt(input, ["servers"]);
  if (!Array.isArray(servers)) return [];
  const out: Array<{ at: ConfigPath; reason: string }> = [];
  const seen = new Map<string, number>();
  servers.forEach((server: unknown, index) => {
    for (const label of ["name", "alias"] as const) {
      const value = valueAt(server, [label]);
      if (typeof value !== "string") continue;
      const first = seen.get(value);
      if (first !== undefined && !(label === "alias" && first === index)) {
        out.push({ at: ["servers", index, label], reason: `"${value}" is already used as a name or alias by servers[${first}]` });
      } else {
        seen.set(value, index);
      }
    }
  });
  return out;
}

/** Where a path's value (or its nearest present ancestor) starts in the text, for sorting problems by position. */
function offsetOf(doc: Document, at: readonly PropertyKey[]): number {
  for (let length = at.length; length > 0; length--) {
    const node: unknown = doc.getIn(at.slice(0, length), true);
    if (isNode(node) && node.range) return node.range[0];
  }
  return -1;
}

function redact(reason: string, secret: string | undefined): string {
  if (secret === undefined || secret === "") return reason;
  return reason.split(secret).join("<value from environment>");
}

function resolvePaths(config: GatewayConfig, configFile: string, configDir: string): ResolvedConfig {
  const servers = config.servers.map((server): ResolvedServerConfig => {
    if (server.transport === "stdio") return { ...server, cwd: path.resolve(configDir, server.cwd ?? ".") };
    if (server.transport !== "container") return server;
    const volumes = server.volumes.map((volume) => ({ ...volume, host: path.resolve(configDir, volume.host) }));
    const { fallback, ...rest } = server;
    if (fallback === undefined) return { ...rest, volumes };
    return { ...rest, volumes, fallback: { ...fallback, cwd: path.resolve(configDir, fallback.cwd ?? ".") } };
  });
  const container = { ...config.container, allowedRoots: config.container.allowedRoots.map((root) => path.resolve(configDir, root)) };
  const dataDir = path.resolve(configDir, config.dataDir);
  const audit: ResolvedAuditSettings = {
    ...config.audit,
    dir: config.audit.dir === undefined ? path.join(dataDir, "audit") : path.resolve(configDir, config.audit.dir),
    // One name for this process, in audit records and in the policy input alike.
    replica: config.audit.replica ?? process.env.HOSTNAME ?? hostname(),
  };
  return { ...config, dataDir, audit, servers, container, configFile, configDir };
}

/**
 * Volume host paths must lie under container.allowedRoots (lexically here; the container layer checks again with
 * symlinks resolved, when it starts the container).
 */
function volumeProblems(config: ResolvedConfig): Array<{ at: ConfigPath; reason: string }> {
  const problems: Array<{ at: ConfigPath; reason: string }> = [];
  const roots = config.container.allowedRoots;
  config.servers.forEach((server, index) => {
    if (server.transport !== "container") return;
    server.volumes.forEach((volume, volumeIndex) => {
      const at = ["servers", index, "volumes", volumeIndex, "host"];
      // The gateway's own state (keys, the audit log) is never a server's to see, whatever the roots allow.
      const own = gatewayStateIn(volume.host, { dataDir: config.dataDir, auditDir: config.audit.dir });
      if (own !== undefined) {
        problems.push({ at, reason: `${volume.host} would expose the gateway's own ${own} (server data goes in ${path.join(config.dataDir, "volumes")} or elsewhere)` });
        return;
      }
      if (roots.some((root) => isInside(volume.host, root))) return;
      const allowed = roots.length === 0 ? "container.allowedRoots is empty" : `allowed: ${roots.join(", ")}`;
      problems.push({ at, reason: `${volume.host} is not under an allowed root (${allowed})` });
    });
  });
  return problems;
}

/** Parses, interpolates and validates config text. Never throws for bad input. */
export function parseConfigText(text: string, options: ParseOptions): ConfigResult {
  const { file } = options;
  const env = options.env ?? process.env;
  const pseudo = isPseudoName(file);
  const configFile = pseudo ? file : path.resolve(file);
  const configDir = path.resolve(options.baseDir ?? (pseudo ? process.cwd() : path.dirname(configFile)));

  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((error) => {
        const { line: row, col } = lineCounter.linePos(error.pos[0]);
        return `${file}:${row}:${col}: ${error.message}`;
      }),
    };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    return { ok: false, errors: [`${file}: ${(error as Error).message}`] };
  }
  // An empty (or comment-only) file is a config with every default.
  if (raw === null || raw === undefined) raw = {};

  // GATEHOUSE_CONFIG_DIR lets a config name paths beside itself where a program wants an absolute path.
  const interpolated = interpolateTree(raw, { ...env, GATEHOUSE_CONFIG_DIR: configDir });
  const problems: Array<{ at: readonly PropertyKey[]; reason: string }> = interpolated.issues.map((issue) => ({
    at: issue.path,
    reason: issue.message,
  }));
  const failed = new Set(interpolated.issues.map((issue) => formatPath(issue.path)));

  const parsed = configSchema.safeParse(interpolated.value);
  if (parsed.success && problems.length === 0) {
    const config = resolvePaths(parsed.data, configFile, configDir);
    problems.push(...volumeProblems(config));
    if (problems.length === 0) return { ok: true, config };
  }
  if (!parsed.success) {
    const described = parsed.error.issues.flatMap((issue) => describeIssue(issue, interpolated.value));
    described.push(...duplicateNameIssues(interpolated.value));
    for (const { at, reason } of described) {
      const where = formatPath(at);
      // A value whose interpolation failed was blanked; what validation says about the blank is noise.
      if (failed.has(where)) continue;
      problems.push({ at, reason: redact(reason, interpolated.substituted.get(where)) });
    }
  }
  // In the order they appear in the file (stable, so problems at one place keep their order).
  const sorted = problems
    .map((problem, index) => ({ problem, index, offset: offsetOf(doc, problem.at) }))
    .sort((a, b) => a.offset - b.offset || a.index - b.index);
  const errors = [...new Set(sorted.map(({ problem }) => line(file, problem.at, problem.reason)))];
  return { ok: false, errors };
}

/** Reads and parses a config file. Relative paths inside resolve against the file's folder. */
export async function loadConfigFile(file: string, env?: NodeJS.ProcessEnv): Promise<ConfigResult> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory, not a file" : `cannot read (${code ?? (error as Error).message})`;
    return { ok: false, errors: [`${file}: ${reason}`] };
  }
  return parseConfigText(text, env === undefined ? { file } : { file, env });
}

/** The embedded default config (`default.yaml` beside this file), named "<embedded default>" in messages. */
export async function loadDefaultConfig(env?: NodeJS.ProcessEnv): Promise<ConfigResult> {
  const text = await readFile(DEFAULT_CONFIG_PATH, "utf8");
  const options: ParseOptions = { file: EMBEDDED_DEFAULT_NAME, baseDir: path.dirname(DEFAULT_CONFIG_PATH) };
  if (env !== undefined) options.env = env;
  return parseConfigText(text, options);
}

/** The file when one is named, else the embedded default: what every CLI command's --config means. */
export function loadConfig(file: string | undefined): Promise<ConfigResult> {
  return file === undefined ? loadDefaultConfig() : loadConfigFile(file);
}
