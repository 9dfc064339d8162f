/**
 * `transport: container` servers and the top-level `container` section. Hardening itself is not configurable
 * (gateway/upstream/container/README.md); what is configurable is validated here, strictly.
 */
import { z } from "zod";
import { checkScope, scopeFields, serverCommon, stringMap } from "./schema-common.ts";

const SIZE = /^[1-9]\d*[bkmg]?$/i;
const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

function bytes(size: string): number {
  const unit = size.slice(-1).toLowerCase();
  return unit in UNITS ? Number(size.slice(0, -1)) * (UNITS[unit] ?? 1) : Number(size);
}

/** How a container server runs as a plain process when no container runtime (or no image) is there. */
const processLaunch = z.strictObject({
  command: z.string().min(1, "command must not be empty"),
  args: z.array(z.string()).default([]),
  env: stringMap.default({}),
  cwd: z.string().optional(),
});

export const containerServer = z
  .strictObject({
    ...serverCommon,
    transport: z.literal("container"),
    image: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._\/:-]*(@sha256:[a-f0-9]{64})?$/, "must be an image reference such as localhost/notes:latest"),
    /** never: the image must already be there (nothing is pulled). if-missing: pulled when absent. */
    pull: z.enum(["never", "if-missing"]).default("if-missing"),
    /** The local image's digest must equal this, or the server does not start. */
    digest: z.string().regex(/^sha256:[a-f0-9]{64}$/, "must be sha256: followed by 64 hex digits").optional(),
    args: z.array(z.string()).default([]),
    /** Written to a private env file (`--env-file`): never in argv, never in the engine CLI's own environment. */
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name"),
        z.string().regex(/^[^\n\r]*$/, "must be one line (container env travels in an env file)"),
      )
      .default({}),
    volumes: z
      .array(
        z.strictObject({
          /** Relative to the config file's folder; must lie under container.allowedRoots. */
          host: z.string().min(1).regex(/^[^:,]*$/, "must not contain ':' or ','"),
          container: z.string().regex(/^\/[^:,]*$/, "must be an absolute path without ':' or ','"),
          readOnly: z.boolean().default(true),
        }),
      )
      .default([]),
    /** none: no network at all. A named network only when set; `host` would share the gateway's own. */
    network: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "must be none or a network name")
      .refine((name) => name !== "host", "host networking would give the server the gateway's network; name a network")
      .default("none"),
    /** uid[:gid], never 0: the server runs as a non-root user. */
    user: z
      .string()
      .regex(/^\d+(:\d+)?$/, "must be uid or uid:gid (numbers)")
      .refine((user) => Number(user.split(":")[0]) !== 0, "must not be root (uid 0)")
      .refine((user) => user.split(":")[1] === undefined || Number(user.split(":")[1]) !== 0, "must not be in the root group (gid 0)")
      .default("65532:65532"),
    resources: z
      .strictObject({
        // At least 6 MiB (podman's floor); 0 would mean "no limit" to docker.
        memory: z
          .string()
          .regex(SIZE, "must be a size such as 256m or 1g")
          .refine((size) => !SIZE.test(size) || bytes(size) >= 6 * 1024 * 1024, "must be at least 6m")
          .default("512m"),
        cpus: z.number().positive().max(256).default(1),
        pids: z.number().int().min(8).max(1_000_000).default(256),
      })
      .default({ memory: "512m", cpus: 1, pids: 256 }),
    ...scopeFields,
    /** MCP ping on a timer; a container that misses it is restarted. */
    healthCheck: z
      .strictObject({
        intervalMs: z.number().int().min(100).default(30_000),
        timeoutMs: z.number().int().min(10).default(5_000),
      })
      .default({ intervalMs: 30_000, timeoutMs: 5_000 }),
    /** Run this process instead, with a warning, when no container runtime is found or the image is absent. */
    fallback: processLaunch.optional(),
  })
  .superRefine((server, ctx) => {
    checkScope(server, ctx);
    if (server.healthCheck.timeoutMs >= server.healthCheck.intervalMs) {
      ctx.addIssue({ code: "custom", path: ["healthCheck", "timeoutMs"], message: "must be shorter than healthCheck.intervalMs" });
    }
  });

export const containerSettings = z
  .strictObject({
    /** auto: podman, else docker, found on PATH. */
    runtime: z.enum(["auto", "podman", "docker"]).default("auto"),
    /** Inserted before `run`, e.g. ["--runtime", "/usr/sbin/runc"]. */
    runtimeArgs: z.array(z.string()).default([]),
    /** Folders (relative to the config file) that volume host paths must lie under. Empty: no volumes. */
    allowedRoots: z.array(z.string().min(1)).default([]),
  })
  .default({ runtime: "auto", runtimeArgs: [], allowedRoots: [] });

export type ContainerServerConfig = z.infer<typeof containerServer>;
export type ContainerSettings = z.infer<typeof containerSettings>;
