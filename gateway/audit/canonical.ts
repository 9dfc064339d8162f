/**
 * The bytes a record's hash covers: canonical JSON in the manner of RFC 8785 (JCS). Keys sorted by UTF-16 code
 * units, no whitespace, strings and numbers as ECMAScript's JSON.stringify writes them, `undefined` members
 * dropped. Any verifier in any language can rebuild these bytes from the parsed record.
 */
import { createHash } from "node:crypto";

/**
 * Frozen objects cannot change, so their canonical text is kept: the parts of a record that repeat on every call
 * of a session (the agent, its masked identity and claims) are serialized once, not once per record.
 */
const frozenText = new WeakMap<object, string>();

export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isFinite(value)) return "null";
    return JSON.stringify(value) ?? "null";
  }
  if (!Object.isFrozen(value)) return serialize(value);
  let text = frozenText.get(value);
  if (text === undefined) {
    text = serialize(value);
    frozenText.set(value, text);
  }
  return text;
}

/** Deep-freezes plain objects and arrays, so canonicalJson may cache them. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

function serialize(value: object): string {
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i > 0 ? "," : "") + (value[i] === undefined ? "null" : canonicalJson(value[i]));
    return out + "]";
  }
  const object = value as Record<string, unknown>;
  let out = "{";
  let first = true;
  for (const key of Object.keys(object).sort()) {
    const member = object[key];
    if (member === undefined || typeof member === "function") continue;
    out += (first ? "" : ",") + JSON.stringify(key) + ":" + canonicalJson(member);
    first = false;
  }
  return out + "}";
}

export function sha256Hex(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** The `prev` of the very first record of a chain. */
export const GENESIS = "0".repeat(64);
