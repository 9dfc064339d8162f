/** Definition hashes: sha256 over canonical JSON, so that key order never changes a hash but any edit does. */
import { createHash } from "node:crypto";

/**
 * JSON with object keys sorted (by UTF-16 code units, recursively) and no whitespace. Otherwise JSON.stringify's
 * rules: undefined members are left out, undefined array items and non-finite numbers become null.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number") return Number.isFinite(value) ? JSON.stringify(value) : "null";
    if (typeof value === "string" || typeof value === "boolean") return JSON.stringify(value);
    if (typeof value === "bigint") return value.toString();
    return "null";
  }
  if (Array.isArray(value)) {
    return `[${value.map((item: unknown) => (item === undefined || typeof item === "function" ? "null" : canonicalJson(item))).join(",")}]`;
  }
  const record = value as Record<string, unknown>;
  const members: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined || typeof item === "function" || typeof item === "symbol") continue;
    members.push(`${JSON.stringify(key)}:${canonicalJson(item)}`);
  }
  return `{${members.join(",")}}`;
}

/** sha256 (hex) of the canonical JSON of `definition`. */
export function definitionHash(definition: unknown): string {
  return createHash("sha256").update(canonicalJson(definition)).digest("hex");
}
