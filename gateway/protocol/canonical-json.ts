/**
 * Canonical JSON in the manner of RFC 8785 (JCS): object keys sorted by UTF-16 code units at every depth, no
 * whitespace, strings and numbers as ECMAScript's JSON.stringify writes them, `undefined` members dropped,
 * `undefined` array items and non-finite numbers as null. Audit hashes and tool-definition hashes are computed over
 * these bytes, so any verifier in any language can rebuild them from the parsed JSON.
 *
 * It runs on every audited call, so the common case is one native JSON.stringify over the value with its objects'
 * keys in sorted insertion order (an object already in order is used as it is, not copied). Objects that insertion
 * order cannot express, because JavaScript enumerates integer-like keys ("9", "10") first in numeric order, and
 * values that are not plain JSON data (class instances, toJSON methods, bigints) take the slower member-by-member
 * serializer, which gives the same bytes. Values are data: a getter would be read twice on the fast path.
 */
import { hash } from "node:crypto";

/** Thrown inside `ordered` when only the slow serializer can write the value; never escapes this module. */
const SLOW_PATH = Symbol("canonical-json slow path");

/**
 * What deepFreeze froze cannot change at any depth (Object.isFrozen alone is shallow), so its ordered form is kept:
 * the parts of an audit record that repeat on every call of a session (the agent, its masked identity and claims)
 * are ordered once, not once per record.
 */
const deeplyFrozen = new WeakSet<object>();
const orderedFrozen = new WeakMap<object, unknown>();

export function canonicalJson(value: unknown): string {
  try {
    return JSON.stringify(ordered(value)) ?? "null";
  } catch (error) {
    if (error !== SLOW_PATH) throw error;
    return serialize(value);
  }
}

/** Hex SHA-256 of the UTF-8 bytes of `text` (one call, no Hash object). */
export function sha256Hex(text: string): string {
  return hash("sha256", text, "hex");
}

/** Freezes objects and arrays in place, at every depth (also below an object someone froze shallowly). */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== "object" || deeplyFrozen.has(value)) return value;
  // Marked and frozen before its members, so a cycle ends here instead of recursing forever.
  deeplyFrozen.add(value);
  Object.freeze(value);
  for (const member of Object.values(value)) deepFreeze(member);
  return value;
}

function ordered(value: unknown): unknown {
  if (typeof value !== "object" || value === null) {
    if (typeof value === "bigint") throw SLOW_PATH;
    return value;
  }
  const frozen = deeplyFrozen.has(value);
  if (frozen) {
    const known = orderedFrozen.get(value);
    if (known !== undefined) return known;
  }
  const result = Array.isArray(value) ? orderedArray(value) : orderedObject(value);
  if (frozen) orderedFrozen.set(value, result);
  return result;
}

function orderedArray(array: unknown[]): unknown[] {
  if (Object.getPrototypeOf(array) !== Array.prototype || hasToJson(array)) throw SLOW_PATH;
  let copy: unknown[] | undefined;
  for (let i = 0; i < array.length; i++) {
    const item = array[i];
    const next = ordered(item);
    if (next !== item) (copy ??= array.slice())[i] = next;
  }
  return copy ?? array;
}

function orderedObject(object: object): object {
  const proto: unknown = Object.getPrototypeOf(object);
  // Dates, Maps, class instances: JSON.stringify would consult toJSON or drop their state; the slow path does not.
  if ((proto !== Object.prototype && proto !== null) || hasToJson(object)) throw SLOW_PATH;
  const record = object as Record<string, unknown>;
  const keys = Object.keys(record);
  let inOrder = true;
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) {
      inOrder = false;
      break;
    }
  }
  if (inOrder) {
    let copy: Record<string, unknown> | undefined;
    for (const key of keys) {
      const member = record[key];
      const next = ordered(member);
      if (next !== member) put((copy ??= { ...record }), key, next);
    }
    return copy ?? record;
  }
  keys.sort();
  const copy: Record<string, unknown> = {};
  for (const key of keys) put(copy, key, ordered(record[key]));
  // JavaScript enumerates array-index keys first, in numeric order, whatever the insertion order: when the copy
  // does not list its keys as sorted, JSON.stringify would not write them sorted either.
  if (keys.some(mayBeArrayIndex)) {
    const enumerated = Object.keys(copy);
    if (enumerated.some((key, i) => key !== keys[i])) throw SLOW_PATH;
  }
  return copy;
}

/** Assignment, except that a "__proto__" key (JSON.parse makes those) becomes a key, not a new prototype. */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}
const mayBeArrayIndex = (key: string): boolean => key.charCodeAt(0) >= 48 && key.charCodeAt(0) <= 57;
/** JSON.stringify would write what toJSON returns (an own, inherited or polluted prototype method alike). */
const hasToJson = (value: object): boolean => typeof (value as { toJSON?: unknown }).toJSON === "function";

function serialize(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : "null";
    if (typeof value === "bigint") return value.toString();
    return JSON.stringify(value) ?? "null";
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out += (i > 0 ? "," : "") + (item === undefined || typeof item === "function" || typeof item === "symbol" ? "null" : serialize(item));
    }
    return out + "]";
  }
  const record = value as Record<string, unknown>;
  let out = "{";
  let first = true;
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined || typeof member === "function" || typeof member === "symbol") continue;
    out += (first ? "" : ",") + JSON.stringify(key) + ":" + serialize(member);
    first = false;
  }
  return out + "}";
}
