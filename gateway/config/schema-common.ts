/** Pieces of the config schema that more than one part of it uses (servers of every transport). */
import { z } from "zod";

export const serverName = z
  .string()
  .regex(/^[a-z0-9-]+$/, "must match [a-z0-9-]+ (lowercase letters, digits, dashes)")
  .max(64, "must be at most 64 characters");

const glob = z.string().min(1, "a glob must not be empty");

const toolFilter = z.strictObject({
  allow: z.array(glob).optional(),
  deny: z.array(glob).optional(),
});

export const stringMap = z.record(z.string(), z.string());

/** Settings every transport shares. */
export const serverCommon = {
  name: serverName,
  alias: serverName.optional(),
  tools: toolFilter.optional(),
  timeoutMs: z.number().int().positive().max(3_600_000).default(30_000),
  /**
   * What the backend learns of the caller. `none`: nothing. `assertion`: a short-lived JWT signed by the gateway
   * (sub = agentId, act = the gateway, aud = this server); never the client's own token.
   */
  identity: z.enum(["none", "assertion"]).default("none"),
  /**
   * Offer the roots capability to this backend, and answer its roots/list from the client whose call caused it.
   * Off by default: most servers treat roots as global state, and this backend is shared by every agent.
   */
  roots: z.boolean().default(false),
  /** /readyz waits for required servers; an optional one that is down only fails its own calls. */
  required: z.boolean().default(true),
};

/** `scope` and its per-session settings (container and Streamable HTTP servers). */
export const scopeFields = {
  scope: z.enum(["shared", "per-session"]).default("shared"),
  /** per-session only: how many instances may run at once, and how long one may sit unused. */
  maxInstances: z.number().int().min(1).max(1_000).optional(),
  idleTimeoutMs: z.number().int().min(100).optional(),
};

export function checkScope(server: { scope: "shared" | "per-session"; maxInstances?: number | undefined; idleTimeoutMs?: number | undefined }, ctx: z.RefinementCtx): void {
  if (server.scope !== "shared") return;
  for (const key of ["maxInstances", "idleTimeoutMs"] as const) {
    if (server[key] !== undefined) ctx.addIssue({ code: "custom", path: [key], message: "only applies to scope: per-session" });
  }
}
