/**
 * Rate limits, after policy and before the backend: token buckets per agent (every forwarded call), per agent
 * and tool (tools/call), and the one a policy obligation names (`rateLimit: {key, perMinute}`). Config buckets
 * are the operator's ceiling; an obligation can only add a bucket, never lift one. Every bucket of a call is
 * taken all or nothing, so a refused call costs no bucket a token.
 *
 * When the bucket store cannot answer, `rateLimits.onStoreError` decides for the operator's own buckets; a limit
 * the policy demands is never waived (fail closed), whatever that setting says.
 */
import { ErrorCode, JsonRpcError, Method } from "../protocol/index.ts";
import type { ClientSession } from "../session/index.ts";
import { StateUnavailableError, type BucketSpec, type RateLimiter } from "../state/index.ts";
import type { RateLimitSettings } from "../config/schema.ts";
import type { CallTrace } from "./audit-stage.ts";
import { logger } from "../log.ts";

const log = logger("rate-limit");
const STORE_WARNING_EVERY_MS = 10_000;

export interface RateLimitCall {
  method: string;
  server: string;
  /** The backend's own tool name (tools/call). */
  tool?: string | undefined;
}

export class RateLimitStage {
  private readonly limiter: RateLimiter;
  private readonly settings: () => RateLimitSettings;
  private lastStoreWarning = 0;

  constructor(limiter: RateLimiter, settings: () => RateLimitSettings) {
    this.limiter = limiter;
    this.settings = settings;
  }

  /** Undefined (synchronously) when no bucket applies, so unlimited calls await nothing. Rejects with the refusal. */
  admit(session: ClientSession, trace: CallTrace, call: RateLimitCall): Promise<void> | undefined {
    const buckets = this.bucketsFor(session, trace, call);
    return buckets.length === 0 ? undefined : this.take(buckets, call);
  }

  bucketsFor(session: ClientSession, trace: CallTrace, call: RateLimitCall): BucketSpec[] {
    const settings = this.settings();
    // The agent goes in a {hash tag}, encoded so it cannot close the tag: one Redis Cluster slot per agent. Its
    // issuer is part of it: two issuers may each have an agent with the same id.
    const agent = `{${encodeURIComponent(session.identity.issuer)}/${encodeURIComponent(session.identity.agentId)}}`;
    const buckets: BucketSpec[] = [];
    if (settings.perAgent !== undefined) {
      buckets.push({ key: `agent:${agent}`, label: "perAgent", perMinute: settings.perAgent.perMinute, burst: settings.perAgent.burst ?? Math.max(1, Math.floor(settings.perAgent.perMinute)) });
    }
    if (settings.perAgentTool !== undefined && call.method === Method.ToolsCall && call.tool !== undefined) {
      const limit = settings.perAgentTool;
      buckets.push({ key: `tool:${agent}:${encodeURIComponent(call.server)}/${encodeURIComponent(call.tool)}`, label: "perAgentTool", perMinute: limit.perMinute, burst: limit.burst ?? Math.max(1, Math.floor(limit.perMinute)) });
    }
    const obligation = trace.policy?.outcome.obligations.rateLimit;
    if (obligation !== undefined) {
      const { key, perMinute } = (obligation ?? {}) as { key?: unknown; perMinute?: unknown };
      if (typeof key !== "string" || key === "" || typeof perMinute !== "number" || !(perMinute > 0)) {
        // Fail closed: a policy that meant to limit and said it wrongly must not mean "unlimited".
        throw new JsonRpcError(ErrorCode.PolicyDenied, "Denied by policy: its rateLimit obligation is malformed (needs key and a positive perMinute)");
      }
      buckets.push({ key: `policy:${agent}:${encodeURIComponent(key)}`, label: `policy ${key}`, perMinute, burst: Math.max(1, Math.floor(perMinute)) });
    }
    return buckets;
  }

  private async take(buckets: BucketSpec[], call: RateLimitCall): Promise<void> {
    let decision;
    try {
      decision = await this.limiter.take(buckets);
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) throw error;
      return this.storeFailed(error, buckets.some((b) => b.key.startsWith("policy:")));
    }
    if (decision.allowed) return;
    const { bucket, retryAfterMs } = decision;
    const what = call.tool === undefined ? call.method : `tool ${call.tool} on ${call.server}`;
    throw new JsonRpcError(
      ErrorCode.RateLimited,
      `Rate limit exceeded: ${bucket.label} allows ${bucket.perMinute} per minute (burst ${bucket.burst}) for ${what}; retry in ${(retryAfterMs / 1000).toFixed(1)} s`,
      { limit: bucket.label, retryAfterMs },
    );
  }

  private storeFailed(error: StateUnavailableError, policyDemandsLimit: boolean): void {
    const mode = policyDemandsLimit ? "closed" : this.settings().onStoreError;
    const now = Date.now();
    if (now - this.lastStoreWarning > STORE_WARNING_EVERY_MS) {
      this.lastStoreWarning = now;
      log.warn({ err: error.message, onStoreError: mode }, mode === "open" ? "rate limits unchecked while their store is away (fail open)" : "calls refused while the rate-limit store is away (fail closed)");
    }
    if (mode === "open") return;
    // The store's address stays in the log: agents learn only that they should retry.
    const why = policyDemandsLimit ? "the policy limits this call" : "rateLimits.onStoreError: closed";
    throw new JsonRpcError(ErrorCode.StateUnavailable, `Rate limits cannot be checked right now (${why}); retry shortly`);
  }
}
