/**
 * Checks tools/call arguments against the tool's inputSchema before anything leaves the gateway (after policy,
 * so a denied agent learns nothing of the schema), so that a bad call never costs a backend round trip.
 *
 * Validators are compiled lazily (ajv compiles at ~1 ms a schema; 2,000 tools at every list_changed would stall)
 * and cached by the definition hash, so a changed tool gets a fresh validator and an unchanged one keeps its own.
 */
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import { logger } from "../log.ts";

const log = logger("arguments");

export type ArgumentCheck = { ok: true } | { ok: false; problems: string };

function newAjv(): Ajv2020 {
  // Formats are annotations unless a validator for them is installed; MCP servers use them loosely.
  // addUsedSchema: false, so a tool's `$id` never collides with another tool's, or with its own older version.
  return new Ajv2020({ strict: false, allErrors: true, validateFormats: false, addUsedSchema: false });
}

export class ArgumentValidators {
  /** Replaced together with the cache: ajv keeps every schema it compiled, so only a new instance frees them. */
  private ajv = newAjv();
  private readonly cache = new Map<string, ValidateFunction | null>();
  private readonly maxEntries: number;

  constructor(maxEntries = 10_000) {
    this.maxEntries = maxEntries;
  }

  check(hash: string, inputSchema: unknown, args: unknown): ArgumentCheck {
    let validate = this.cache.get(hash);
    if (validate === undefined) {
      validate = this.compile(hash, inputSchema);
      if (this.cache.size >= this.maxEntries) {
        this.cache.clear();
        this.ajv = newAjv();
      }
      this.cache.set(hash, validate);
    }
    // A schema ajv cannot compile is left to the backend to enforce; refusing every call would be worse.
    if (validate === null || validate(args ?? {})) return { ok: true };
    const problems = (validate.errors ?? [])
      .slice(0, 5)
      .map((e) => `${e.instancePath === "" ? "arguments" : "arguments" + e.instancePath} ${e.message ?? "is invalid"}`)
      .join("; ");
    return { ok: false, problems };
  }

  private compile(hash: string, inputSchema: unknown): ValidateFunction | null {
    if (typeof inputSchema !== "object" || inputSchema === null) return null;
    try {
      const { $schema: _dialect, $id: _id, ...schema } = inputSchema as Record<string, unknown>;
      return this.ajv.compile(schema);
    } catch (error) {
      log.warn({ hash, err: (error as Error).message }, "tool inputSchema does not compile; arguments go unchecked");
      return null;
    }
  }
}
