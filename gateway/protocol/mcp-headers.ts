/**
 * MCP 2026-07-28 request-metadata headers: the Base64 sentinel form of `Mcp-Name` and `Mcp-Param-*` values, the
 * `x-mcp-header` annotations that declare `Mcp-Param-*` headers, and the header-vs-body check. Pure functions: the
 * transports decide what a failure becomes (400 + HeaderMismatch for a server, an excluded tool for a client).
 */
import { Buffer } from "node:buffer";
import { isObject, type JsonObject } from "./jsonrpc.ts";
import { Method } from "./mcp.ts";

/** Lowercase because Node and fetch hand header names over lowercased; the spec makes them case-insensitive. */
export const MCP_HEADER = {
  protocolVersion: "mcp-protocol-version",
  method: "mcp-method",
  name: "mcp-name",
  paramPrefix: "mcp-param-",
} as const;

export type HeaderParam = { header: string; path: readonly string[]; type: "string" | "integer" | "boolean" };

const PREFIX = "=?base64?";
const SUFFIX = "?=";
// Visible ASCII at both ends, space/HTAB only inside: HTTP parsers strip outer whitespace, so it would not survive.
// HTAB is a legal field-value character (RFC 9110), hence plain; the decoder accepts it either way.
const PLAIN = /^[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?$/;
// Node's fetch presents header bytes as latin1, so anything above 0x7E is a non-ASCII byte that arrived raw.
const INVALID_CHAR = /[^\x20-\x7e\t]/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CONTROL = /[\x00-\x1f\x7f]/;
// JSON's number grammar: "42.0" and "4.2e1" equal 42; "0x2A", " 42" and "" (which Number() accepts) do not.
const NUMBER_TEXT = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
// fatal: a payload that is not UTF-8 is malformed, not silently U+FFFD. ignoreBOM: a leading U+FEFF is part of the
// value (the default would swallow it, and the header would then differ from the body without anyone noticing).
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * The header form of a value. The empty string stays plain (an empty field value is legal HTTP, and
 * `=?base64??=` would be a needless oddity); a decoder maps it back to "" either way. Strings with lone surrogates
 * have no UTF-8 form: they go out as U+FFFD, so the header then (rightly) fails to match the body.
 */
export function encodeHeaderValue(value: string): string {
  // The overlapping "=?base64?=" counts as sentinel-like too: encoding it is safe for decoders of either reading.
  const plain = value === "" || (PLAIN.test(value) && !(value.startsWith(PREFIX) && value.endsWith(SUFFIX)));
  return plain ? value : `${PREFIX}${Buffer.from(value, "utf8").toString("base64")}${SUFFIX}`;
}

export function decodeHeaderValue(raw: string): { ok: true; value: string } | { ok: false; reason: string } {
  const bad = INVALID_CHAR.exec(raw);
  if (bad !== null) {
    const code = bad[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    return { ok: false, reason: `invalid character U+${code} at offset ${bad.index}` };
  }
  if (raw.length < PREFIX.length + SUFFIX.length || !raw.startsWith(PREFIX) || !raw.endsWith(SUFFIX)) {
    return { ok: true, value: raw };
  }
  const payload = raw.slice(PREFIX.length, raw.length - SUFFIX.length);
  if (!BASE64.test(payload)) {
    return { ok: false, reason: "Base64 sentinel payload is not standard Base64 (A-Z a-z 0-9 + /, = padding)" };
  }
  const bytes = Buffer.from(payload, "base64");
  // Non-zero leftover bits ("QR==") would let several header strings stand for one value; no encoder makes them.
  if (bytes.toString("base64") !== payload) {
    return { ok: false, reason: "Base64 sentinel payload has non-zero padding bits" };
  }
  try {
    return { ok: true, value: utf8.decode(bytes) };
  } catch {
    return { ok: false, reason: "Base64 sentinel payload is not valid UTF-8" };
  }
}

const MAX_DEPTH = 64;
// Depth alone does not bound the work when a hand-built schema shares subtrees (2^64 paths); JSON never does.
const MAX_NODES = 100_000;
// Instance data, not schemas: an object in `default` that happens to have an "x-mcp-header" key annotates nothing.
const DATA_KEYWORDS = new Set(["const", "enum", "default", "examples"]);
// Maps from names to schemas: their own keys are names, so a property called "x-mcp-header" is no annotation.
const SCHEMA_MAPS = new Set(
  ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"],
);
const ALLOWED_TYPES = new Set(["string", "integer", "boolean"]);

function pathStep(at: string, key: string): string {
  const step = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
  return at === "" ? step : `${at}.${step}`;
}

function kindOf(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : `a ${typeof value}`;
}

/**
 * The `Mcp-Param-*` headers a tool's inputSchema declares, or the first reason it is invalid. Every key other than
 * the data keywords is walked, unknown ones included: an annotation the walk cannot place on a pure `properties`
 * chain is invalid, which is the safe reading of an unknown keyword.
 */
export function headerParamsOf(
  inputSchema: unknown,
): { ok: true; params: HeaderParam[] } | { ok: false; reason: string } {
  const params: HeaderParam[] = [];
  const seen = new Map<string, string>();
  const ancestors = new Set<object>();
  let nodes = 0;

  const annotation = (schema: JsonObject, at: string, chain: readonly string[] | undefined): string | undefined => {
    const value = schema["x-mcp-header"];
    const where = at === "" ? "the schema root" : at;
    if (typeof value !== "string") return `x-mcp-header at ${where} must be a string, not ${kindOf(value)}`;
    if (value === "") return `x-mcp-header at ${where} must not be empty`;
    const label = `x-mcp-header ${JSON.stringify(value)} at ${where}`;
    if (chain === undefined) return `${label}: only properties reached through "properties" keys alone may carry it`;
    if (chain.length === 0) return `${label}: the schema root is not a property`;
    if (CONTROL.test(value)) return `${label}: contains a control character`;
    if (!TOKEN.test(value)) return `${label}: not an HTTP token (letters, digits and !#$%&'*+-.^_\`|~ only)`;
    const type = schema.type;
    if (type === undefined) return `${label}: type is missing (string, integer or boolean required)`;
    if (typeof type !== "string" || !ALLOWED_TYPES.has(type)) {
      return `${label}: type ${JSON.stringify(type)} is not allowed (string, integer or boolean only)`;
    }
    const first = seen.get(value.toLowerCase());
    if (first !== undefined) return `${label}: duplicates ${first} (header names are case-insensitive)`;
    seen.set(value.toLowerCase(), `${JSON.stringify(value)} at ${at}`);
    params.push({ header: value, path: chain, type: type as HeaderParam["type"] });
    return undefined;
  };

  // `chain` is the property path while every step so far was a `properties` key; undefined once it was not.
  const walk = (node: unknown, at: string, chain: readonly string[] | undefined, depth: number): string | undefined => {
    if (typeof node !== "object" || node === null) return undefined;
    const where = at === "" ? "the schema root" : at;
    if (depth > MAX_DEPTH) return `inputSchema nests deeper than ${MAX_DEPTH} levels at ${where}`;
    if (++nodes > MAX_NODES) return `inputSchema has more than ${MAX_NODES} nodes`;
    if (ancestors.has(node)) return `inputSchema contains a cycle at ${where}`;
    ancestors.add(node);
    try {
      if (Array.isArray(node)) {
        for (let i = 0; i < node.length; i++) {
          const reason = walk(node[i], `${at}[${i}]`, undefined, depth + 1);
          if (reason !== undefined) return reason;
        }
        return undefined;
      }
      const schema = node as JsonObject;
      if (Object.hasOwn(schema, "x-mcp-header")) {
        const reason = annotation(schema, at, chain);
        if (reason !== undefined) return reason;
      }
      for (const [key, value] of Object.entries(schema)) {
        if (key === "x-mcp-header" || DATA_KEYWORDS.has(key)) continue;
        const here = pathStep(at, key);
        if (!SCHEMA_MAPS.has(key) || !isObject(value)) {
          const reason = walk(value, here, undefined, depth + 1);
          if (reason !== undefined) return reason;
          continue;
        }
        for (const [name, sub] of Object.entries(value)) {
          const next = key === "properties" && chain !== undefined ? [...chain, name] : undefined;
          const reason = walk(sub, pathStep(here, name), next, depth + 1);
          if (reason !== undefined) return reason;
        }
      }
      return undefined;
    } finally {
      ancestors.delete(node);
    }
  };

  const reason = walk(inputSchema, "", [], 0);
  return reason === undefined ? { ok: true, params } : { ok: false, reason };
}

// Own properties only: a path step named "__proto__" or "constructor" must not find something the body lacks.
function valueAt(args: unknown, path: readonly string[]): unknown {
  let current = args;
  for (const key of path) {
    if (!isObject(current) || !Object.hasOwn(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

/** The header text of a body value, or undefined when a conforming client sends no header for it. */
function textOf(type: HeaderParam["type"], value: unknown): string | undefined {
  switch (type) {
    case "string":
      return typeof value === "string" ? value : undefined;
    case "integer":
      // Outside the safe range String() may give "1e+21" and the value is invalid anyway (the spec's own limit).
      return typeof value === "number" && Number.isSafeInteger(value) ? String(value) : undefined;
    case "boolean":
      return typeof value === "boolean" ? String(value) : undefined;
  }
}

/** Header suffix (as declared) → encoded value. Wrong-typed values are left to argument validation to report. */
export function headerValuesOf(params: readonly HeaderParam[], args: unknown): Map<string, string> {
  const values = new Map<string, string>();
  for (const param of params) {
    const text = textOf(param.type, valueAt(args, param.path));
    if (text !== undefined) values.set(param.header, encodeHeaderValue(text));
  }
  return values;
}

// Values go into error messages and logs: escaped, so a decoded CR/LF cannot forge lines, and cut short.
function show(value: string): string {
  const escaped = JSON.stringify(value).slice(1, -1);
  return escaped.length > 80 ? `${escaped.slice(0, 80)}…` : escaped;
}

/**
 * The server side: every declared header must mirror the body. A body value of the wrong type counts as "no
 * value", as it does for headerValuesOf, so the header must then be absent. Repeated headers arrive comma-joined
 * and so fail to match, which is what a request carrying two values deserves.
 */
export function checkParamHeaders(
  params: readonly HeaderParam[],
  args: unknown,
  headers: (lowercaseName: string) => string | undefined,
): { ok: true } | { ok: false; reason: string } {
  for (const param of params) {
    const name = `Mcp-Param-${param.header}`;
    const where = param.path.reduce(pathStep, "arguments");
    const value = valueAt(args, param.path);
    const expected = textOf(param.type, value);
    const raw = headers(MCP_HEADER.paramPrefix + param.header.toLowerCase());
    if (raw === undefined) {
      if (expected === undefined) continue;
      return { ok: false, reason: `${name} header is missing (body has a value at ${where})` };
    }
    const decoded = decodeHeaderValue(raw);
    if (!decoded.ok) return { ok: false, reason: `${name} header value is malformed: ${decoded.reason}` };
    if (expected === undefined) {
      const kind = param.type === "integer" ? "an integer" : `a ${param.type}`;
      const body = value === undefined || value === null ? `has no value at ${where}` : `value at ${where} is not ${kind}`;
      return { ok: false, reason: `${name} header is present but the body ${body}` };
    }
    const same = param.type === "integer"
      ? NUMBER_TEXT.test(decoded.value) && Number(decoded.value) === value
      : decoded.value === expected;
    if (same) continue;
    return { ok: false, reason: `${name} header value '${show(decoded.value)}' does not match body value '${show(expected)}'` };
  }
  return { ok: true };
}

const NAME_FIELD = new Map<string, "name" | "uri">([
  [Method.ToolsCall, "name"], [Method.PromptsGet, "name"], [Method.ResourcesRead, "uri"],
]);

/** The body field `Mcp-Name` mirrors; undefined for methods without one, or when the field is not a string. */
export function nameHeaderSource(method: string, params: JsonObject | undefined): string | undefined {
  const field = NAME_FIELD.get(method);
  if (field === undefined || params === undefined) return undefined;
  const value = params[field];
  return typeof value === "string" ? value : undefined;
}
