/** `state` (where replicas share sessions, delivery and rate limits) and `rateLimits` (token buckets). */
import { z } from "zod";

export const stateSettings = z
  .strictObject({
    /** memory: one replica (the default). redis: any number of replicas behind one Service, no sticky sessions. */
    store: z.enum(["memory", "redis"]).default("memory"),
    redis: z
      .strictObject({
        url: z.string().regex(/^rediss?:\/\//, "must be a redis:// or rediss:// URL"),
        /** Every key and channel starts with it, so deployments can share one Redis. */
        keyPrefix: z.string().regex(/^[A-Za-z0-9:_.-]{1,64}$/, "must be 1-64 characters from [A-Za-z0-9:_.-]").default("gatehouse:"),
      })
      .optional(),
  })
  .default({ store: "memory" })
  .superRefine((state, ctx) => {
    if (state.store === "redis" && state.redis === undefined) ctx.addIssue({ code: "custom", path: ["redis"], message: "store: redis needs it (redis.url)" });
    if (state.store === "memory" && state.redis !== undefined) ctx.addIssue({ code: "custom", path: ["redis"], message: "only applies to store: redis" });
  });

const bucket = z.strictObject({
  /** The sustained rate; the bucket refills perMinute/60 tokens a second. */
  perMinute: z.number().positive(),
  /** How many calls may come at once after a quiet spell. Default: perMinute. */
  burst: z.number().int().min(1).optional(),
});

export const rateLimitSettings = z
  .strictObject({
    /** Every call an agent makes to any server (tools, prompts, resources, completions). */
    perAgent: bucket.optional(),
    /** tools/call per agent and tool. */
    perAgentTool: bucket.optional(),
    /**
     * When the bucket store (Redis) cannot answer: open lets calls through (logged), closed refuses them.
     * Open by default, as Envoy's rate limit filter is: an outage of the limiter should not become one of the gateway.
     */
    onStoreError: z.enum(["open", "closed"]).default("open"),
  })
  .default({ onStoreError: "open" });

export type StateSettings = z.infer<typeof stateSettings>;
export type RateLimitSettings = z.infer<typeof rateLimitSettings>;
