/**
 * The one config file, as a zod schema. Every object is strict: an unknown key is an error, because a typo in a
 * security setting must not silently fall back to a default.
 */
import { z } from "zod";
import { containerServer, containerSettings } from "./schema-container.ts";
import { checkScope, scopeFields, serverCommon, stringMap } from "./schema-common.ts";
import { rateLimitSettings, stateSettings } from "./schema-state.ts";

const algorithms = z.array(z.enum(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"], {
  error: "must be a JWS algorithm such as RS256 or ES256 (never none)",
})).min(1);

const jwksSource = {
  jwksUri: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
  discovery: z.boolean().optional(),
  jwksFile: z.string().optional(),
};

const issuerName = z.string().regex(/^[a-z0-9-]+$/, "must match [a-z0-9-]+");

const oidcLikeIssuer = (kind: "oidc" | "kubernetes", agentId: string) =>
  z.strictObject({
    name: issuerName,
    kind: z.literal(kind),
    issuer: z.string().min(1),
    ...jwksSource,
    algorithms: algorithms.default(["RS256", "ES256"]),
    agentId: z.string().min(1).default(agentId),
  });

const issuerSchema = z.discriminatedUnion(
  "kind",
  [
    oidcLikeIssuer("oidc", "{sub}"),
    oidcLikeIssuer("kubernetes", "{kubernetes.namespace}/{kubernetes.serviceAccount}"),
    z.strictObject({
      name: issuerName,
      kind: z.literal("spiffe"),
      trustDomain: z.string().regex(/^[a-z0-9._-]+$/, "must be a SPIFFE trust domain (lowercase letters, digits, . _ -)"),
      bundleUri: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
      bundleFile: z.string().optional(),
      algorithms: algorithms.default(["RS256", "ES256"]),
      agentId: z.string().min(1).default("{sub}"),
    }),
    z.strictObject({
      name: issuerName,
      kind: z.literal("static"),
      issuer: z.string().min(1),
      jwksFile: z.string().optional(),
      secret: z.string().min(32, "an HMAC secret must be at least 32 characters").optional(),
      // Defaults by key source: HS256 for a shared secret, ES256 for a key set.
      algorithms: algorithms.optional(),
      agentId: z.string().min(1).default("{sub}"),
    }).transform((issuer) => ({ ...issuer, algorithms: issuer.algorithms ?? (issuer.secret !== undefined ? ["HS256" as const] : ["ES256" as const]) })),
  ],
  { error: (issue) => (issue.code === "invalid_union" ? "kind must be one of: oidc, kubernetes, spiffe, static" : undefined) },
);

const identitySchema = z
  .strictObject({
    /** The gateway's resource id: tokens must name it in aud. */
    audience: z.string().min(1),
    requiredScopes: z.array(z.string().min(1)).default([]),
    clockSkewSeconds: z.number().int().min(0).max(600).default(60),
    issuers: z.array(issuerSchema).min(1, "at least one issuer is needed"),
  })
  .superRefine((identity, ctx) => {
    identity.issuers.forEach((issuer, index) => {
      const at = (key: string) => ["issuers", index, key];
      const usesHmac = issuer.algorithms.some((a) => a.startsWith("HS"));
      if (usesHmac && !(issuer.kind === "static" && issuer.secret !== undefined)) {
        ctx.addIssue({ code: "custom", path: at("algorithms"), message: "HS* algorithms need a static issuer with a secret" });
      }
      if (issuer.kind === "spiffe") {
        if (issuer.algorithms.some((a) => !/^(RS|ES|PS)/.test(a))) {
          ctx.addIssue({ code: "custom", path: at("algorithms"), message: "SPIFFE JWT-SVIDs allow only RS*, ES* and PS* algorithms" });
        }
        if ((issuer.bundleUri === undefined) === (issuer.bundleFile === undefined)) {
          ctx.addIssue({ code: "custom", path: at("bundleUri"), message: "set exactly one of bundleUri and bundleFile" });
        }
      } else if (issuer.kind === "static") {
        if ((issuer.jwksFile === undefined) === (issuer.secret === undefined)) {
          ctx.addIssue({ code: "custom", path: at("jwksFile"), message: "set exactly one of jwksFile and secret" });
        }
      } else {
        const sources = [issuer.jwksUri, issuer.discovery ? true : undefined, issuer.jwksFile].filter((v) => v !== undefined);
        if (sources.length !== 1) {
          ctx.addIssue({ code: "custom", path: at("jwksUri"), message: "set exactly one of jwksUri, discovery: true and jwksFile" });
        }
      }
    });
  });

const bundleSource = z.string().min(1, "a bundle path or http(s) URL is needed");

const policySchema = z.strictObject({
  /** An OPA bundle built with `opa build -t wasm` (npm run policy:build): a file path or an http(s) URL. */
  bundle: bundleSource,
  /** enforce: a deny refuses the call. dry-run: the decision is recorded, and the call goes on. */
  mode: z.enum(["enforce", "dry-run"]).default("enforce"),
  /** A candidate bundle evaluated beside the live one; every disagreement is recorded. */
  shadow: bundleSource.optional(),
  /** When set, bundles must carry a valid .signatures.json signed by this key. */
  verify: z
    .strictObject({
      keyFile: z.string().min(1),
      keyId: z.string().optional(),
      algorithm: z.string().optional(),
    })
    .optional(),
  pollIntervalMs: z.number().int().min(100).default(10_000),
  /** Over budget is a deny: a policy must stay fast. */
  timeBudgetMs: z.number().positive().max(1_000).default(5),
  /** explicit: a denial says so. unknown: it looks like an unknown tool/prompt/resource, hiding its existence. */
  denyAs: z.enum(["explicit", "unknown"]).default("explicit"),
});

const MiB = 1024 * 1024;

const auditSchema = z
  .strictObject({
    /** Off only by saying so: a gateway that forgets what it allowed is not one a security team can run. */
    enabled: z.boolean().default(true),
    /** Segments, summaries and checkpoints. Default: <dataDir>/audit. Relative to the config file's folder. */
    dir: z.string().min(1).optional(),
    /**
     * sync: a reply leaves only after its record is fsynced (group commit). batched: records are written and
     * synced every batchWindowMs; a crash loses at most that window.
     */
    durability: z.enum(["sync", "batched"]).default("sync"),
    batchWindowMs: z.number().int().min(1).max(10_000).default(100),
    /** redacted: secrets and the policy's redact pointers masked. raw: as sent (policy pointers still apply). omit: only args_sha256. */
    arguments: z.enum(["redacted", "raw", "omit"]).default("redacted"),
    /** This replica's name in every record. Default: $HOSTNAME, else the OS host name. */
    replica: z.string().min(1).optional(),
    segment: z
      .strictObject({
        maxBytes: z.number().int().min(4096).default(16 * MiB),
        maxAgeMs: z.number().int().min(1_000).default(3_600_000),
      })
      .default({ maxBytes: 16 * MiB, maxAgeMs: 3_600_000 }),
    checkpoint: z
      .strictObject({
        every: z.number().int().min(1).default(1_000),
        intervalMs: z.number().int().min(100).default(10_000),
      })
      .default({ every: 1_000, intervalMs: 10_000 }),
    /** Whole segments are cut by age or total size, with a signed retention checkpoint so verify still passes. */
    retention: z
      .strictObject({
        maxAgeDays: z.number().positive().optional(),
        maxTotalBytes: z.number().int().min(4096).optional(),
      })
      .default({}),
    /** The scope a token needs for GET /admin/audit. */
    readScope: z.string().min(1).default("audit:read"),
    sinks: z
      .strictObject({
        /** Each record as a JSON line on stdout, for log shippers; operational logs then go to stderr. */
        stdout: z.boolean().default(false),
        /** XADD to a Redis Stream (MAXLEN ~ maxLen), collecting every replica's records. */
        redis: z
          .strictObject({
            url: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL"),
            stream: z.string().min(1).default("gatehouse:audit"),
            maxLen: z.number().int().min(1).default(1_000_000),
          })
          .optional(),
      })
      .default({ stdout: false }),
  })
  .default({
    enabled: true,
    durability: "sync",
    batchWindowMs: 100,
    arguments: "redacted",
    segment: { maxBytes: 16 * MiB, maxAgeMs: 3_600_000 },
    checkpoint: { every: 1_000, intervalMs: 10_000 },
    retention: {},
    readScope: "audit:read",
    sinks: { stdout: false },
  });


const stdioServer = z.strictObject({
  ...serverCommon,
  transport: z.literal("stdio"),
  command: z.string().min(1, "command must not be empty"),
  args: z.array(z.string()).default([]),
  env: stringMap.default({}),
  /** Relative to the config file's folder, which is also the default. */
  cwd: z.string().optional(),
});

const httpServer = z
  .strictObject({
    ...serverCommon,
    transport: z.enum(["http", "sse"]),
    url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
    headers: stringMap.default({}),
    /**
     * The MCP revision family the server speaks. auto: ask with server/discover (2026-07-28) when the transport
     * starts and fall back to initialize (2025) on any other answer. The gateway bridges either to every client.
     */
    protocol: z.enum(["auto", "2025", "2026-07-28"]).default("auto"),
    /** per-session: an upstream session per client session, carried on by whichever replica serves the client. */
    ...scopeFields,
  })
  .superRefine((server, ctx) => {
    checkScope(server, ctx);
    if (server.scope === "per-session" && server.transport === "sse") {
      ctx.addIssue({ code: "custom", path: ["scope"], message: "per-session needs transport: http (Streamable HTTP sessions); legacy SSE has none to keep" });
    }
    if (server.scope === "per-session" && server.protocol === "2026-07-28") {
      ctx.addIssue({ code: "custom", path: ["scope"], message: "per-session needs 2025 Streamable HTTP sessions; a 2026-07-28 server is stateless (use scope: shared)" });
    }
    if (server.transport === "sse" && server.protocol === "2026-07-28") {
      ctx.addIssue({ code: "custom", path: ["protocol"], message: "2026-07-28 runs over Streamable HTTP (transport: http); legacy SSE servers speak 2024-11-05" });
    }
  });

export const serverSchema = z.discriminatedUnion("transport", [stdioServer, httpServer, containerServer], {
  error: (issue) =>
    issue.code === "invalid_union" ? "transport must be one of: stdio, http, sse, container" : undefined,
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
    /** Who the agent is, verified on every request. Absent: `serve` refuses to start unless --insecure-no-auth. */
    identity: identitySchema.optional(),
    /** Rego compiled to WASM, evaluated in-process on every call and list. Absent: no policy stage. */
    policy: policySchema.optional(),
    /** The tamper-evident audit log: one hash-chained record per decision. On unless `enabled: false`. */
    audit: auditSchema,
    servers: z.array(serverSchema).default([]),
    /** How `transport: container` servers run. */
    container: containerSettings,
    /** What replicas share: in memory (one replica) or in Redis. */
    state: stateSettings,
    /** Token buckets per agent and per agent+tool; policy obligations may add their own. */
    rateLimits: rateLimitSettings,
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
export type { ContainerServerConfig, ContainerSettings } from "./schema-container.ts";
export type { RateLimitSettings, StateSettings } from "./schema-state.ts";
export type NamingConfig = GatewayConfig["naming"];
export type IdentitySettings = z.infer<typeof identitySchema>;
export type PolicySettings = z.infer<typeof policySchema>;
export type AuditSettings = z.infer<typeof auditSchema>;
export type IssuerSettings = z.infer<typeof issuerSchema>;
