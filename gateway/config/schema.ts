/**
 * The one config file, as a zod schema. Every object is strict: an unknown key is an error, because a typo in a
 * security setting must not silently fall back to a default.
 */
import { z } from "zod";

const serverName = z
  .string()
  .regex(/^[a-z0-9-]+$/, "must match [a-z0-9-]+ (lowercase letters, digits, dashes)")
  .max(64, "must be at most 64 characters");

const glob = z.string().min(1, "a glob must not be empty");

const toolFilter = z.strictObject({
  allow: z.array(glob).optional(),
  deny: z.array(glob).optional(),
});

const stringMap = z.record(z.string(), z.string());

/** Settings every transport shares. */
const serverCommon = {
  name: serverName,
  alias: serverName.optional(),
  tools: toolFilter.optional(),
  timeoutMs: z.number().int().positive().max(3_600_000).default(30_000),
  /** /readyz waits for required servers; an optional one that is down only fails its own calls. */
  required: z.boolean().default(true),
};

const stdioServer = z.strictObject({
  ...serverCommon,
  transport: z.literal("stdio"),
  command: z.string().min(1, "command must not be empty"),
  args: z.array(z.string()).default([]),
  env: stringMap.default({}),
  /** Relative to the config file's folder, which is also the default. */
  cwd: z.string().optional(),
});

const httpServer = z.strictObject({
  ...serverCommon,
  transport: z.enum(["http", "sse"]),
  url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  headers: stringMap.default({}),
});

export const serverSchema = z.discriminatedUnion("transport", [stdioServer, httpServer], {
  error: (issue) =>
    issue.code === "invalid_union" ? "transport must be one of: stdio, http, sse" : undefined,
});

export const configSchema = z
  .strictObject({
    listen: z
      .strictObject({
        host: z.string().min(1).default("127.0.0.1"),
        port: z.number().int().min(0).max(65535).default(8080),
      })
      .default({ host: "127.0.0.1", port: 8080 }),
    naming: z
      .strictObject({
        separator: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,8}$/, "must be 1-8 characters from the tool-name alphabet [A-Za-z0-9_.-]")
          .default("__"),
        prefix: z.enum(["always", "when-needed", "never"]).default("when-needed"),
      })
      .default({ separator: "__", prefix: "when-needed" }),
    http: z
      .strictObject({
        maxBodyBytes: z.number().int().positive().default(4 * 1024 * 1024),
        /** Exact origins (scheme://host[:port]) browsers may call from; loopback origins are always allowed on a loopback bind. */
        allowedOrigins: z.array(z.string()).default([]),
        pageSize: z.number().int().min(1).max(10_000).default(100),
        sessionIdleTimeoutMs: z.number().int().positive().default(30 * 60_000),
        drainTimeoutMs: z.number().int().nonnegative().default(10_000),
      })
      .default({
        maxBodyBytes: 4 * 1024 * 1024,
        allowedOrigins: [],
        pageSize: 100,
        sessionIdleTimeoutMs: 30 * 60_000,
        drainTimeoutMs: 10_000,
      }),
    /** Where the gateway keeps its own files (keys, audit segments). Relative to the config file's folder. */
    dataDir: z.string().default(".gatehouse"),
    servers: z.array(serverSchema).default([]),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.servers.forEach((server, index) => {
      for (const [label, value] of [["name", server.name], ["alias", server.alias]] as const) {
        if (value === undefined) continue;
        const first = seen.get(value);
        if (first !== undefined && !(label === "alias" && first === index)) {
          ctx.addIssue({
            code: "custom",
            path: ["servers", index, label],
            message: `"${value}" is already used as a name or alias by servers[${first}]`,
          });
        } else {
          seen.set(value, index);
        }
      }
    });
  });

export type GatewayConfig = z.infer<typeof configSchema>;
export type ServerConfig = z.infer<typeof serverSchema>;
export type StdioServerConfig = z.infer<typeof stdioServer>;
export type HttpServerConfig = z.infer<typeof httpServer>;
export type NamingConfig = GatewayConfig["naming"];
