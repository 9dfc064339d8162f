import { describe, expect, it } from "vitest";
import { ClientSession } from "../session/index.ts";
import { MemoryRateLimiter, StateUnavailableError, type BucketSpec, type RateLimiter } from "../state/index.ts";
import type { RateLimitSettings } from "../config/schema.ts";
import type { AgentIdentity } from "../identity/index.ts";
import type { PolicyOutcome } from "../policy/index.ts";
import { RateLimitStage } from "./rate-limit-stage.ts";
import type { CallTrace } from "./audit-stage.ts";

const identity = (agentId: string): AgentIdentity => ({ agentId, issuer: "test", subject: agentId, scopes: [], claims: {} }) as unknown as AgentIdentity;
const session = (agentId = "a1") => new ClientSession({ protocolVersion: "2025-11-25", identity: identity(agentId) });
const withObligation = (rateLimit: unknown): CallTrace => ({
  policy: { outcome: { allow: true, reasons: [], obligations: { rateLimit }, revision: "r", effect: "allow", evalMicros: 1 } as PolicyOutcome, input: {} },
});
const settings = (s: Partial<RateLimitSettings>): RateLimitSettings => ({ onStoreError: "open", ...s });
const call = { method: "tools/call", server: "notes", tool: "write" };

describe("RateLimitStage.bucketsFor", () => {
  const cases: Array<{ name: string; settings: Partial<RateLimitSettings>; trace?: CallTrace; call?: typeof call | { method: string; server: string }; agent?: string; expected: Array<Pick<BucketSpec, "key" | "label" | "perMinute" | "burst">> }> = [
    { name: "nothing configured, no obligation: no bucket", settings: {}, expected: [] },
    { name: "perAgent applies to every forwarded method", settings: { perAgent: { perMinute: 60 } }, call: { method: "prompts/get", server: "notes" }, expected: [{ key: "agent:{test/a1}", label: "perAgent", perMinute: 60, burst: 60 }] },
    { name: "perAgentTool only to tools/call", settings: { perAgentTool: { perMinute: 6, burst: 2 } }, call: { method: "resources/read", server: "notes" }, expected: [] },
    {
      name: "both, for a tool call, with an explicit burst",
      settings: { perAgent: { perMinute: 600, burst: 10 }, perAgentTool: { perMinute: 6, burst: 2 } },
      expected: [
        { key: "agent:{test/a1}", label: "perAgent", perMinute: 600, burst: 10 },
        { key: "tool:{test/a1}:notes/write", label: "perAgentTool", perMinute: 6, burst: 2 },
      ],
    },
    { name: "a policy obligation adds its own bucket", settings: {}, trace: withObligation({ key: "grant:g", perMinute: 30 }), expected: [{ key: "policy:{test/a1}:grant%3Ag", label: "policy grant:g", perMinute: 30, burst: 30 }] },
    { name: "a fractional rate keeps a burst of at least one", settings: { perAgent: { perMinute: 0.5 } }, expected: [{ key: "agent:{test/a1}", label: "perAgent", perMinute: 0.5, burst: 1 }] },
    { name: "an agent id cannot break out of its hash tag", settings: { perAgent: { perMinute: 1 } }, agent: "x}{y", expected: [{ key: "agent:{test/x%7D%7By}", label: "perAgent", perMinute: 1, burst: 1 }] },
  ];
  it.each(cases)("$name", ({ settings: s, trace, call: c, agent, expected }) => {
    const stage = new RateLimitStage(new MemoryRateLimiter(), () => settings(s));
    const buckets = stage.bucketsFor(session(agent), trace ?? {}, c ?? call);
    expect(buckets.map(({ key, label, perMinute, burst }) => ({ key, label, perMinute, burst }))).toEqual(expected);
    expect(stage.admit(session(agent), trace ?? {}, c ?? call) === undefined).toBe(expected.length === 0);
  });

  it.each([[{ key: "", perMinute: 5 }], [{ key: "k", perMinute: 0 }], [{ key: "k" }], ["120"], [null]])("a malformed obligation %j is a policy denial (fail closed)", (obligation) => {
    const stage = new RateLimitStage(new MemoryRateLimiter(), () => settings({}));
    expect(() => stage.bucketsFor(session(), withObligation(obligation), call)).toThrow(/Denied by policy: its rateLimit obligation is malformed/);
  });
});

describe("RateLimitStage when the bucket store fails (a limiter that throws StateUnavailableError, standing in for Redis down)", () => {
  const broken: RateLimiter = { take: async () => Promise.reject(new StateUnavailableError("Redis at 127.0.0.1:1 is unreachable")), close: async () => {} };
  it.each([
    ["open", {}, undefined],
    ["closed", {}, /^Rate limits cannot be checked right now \(rateLimits\.onStoreError: closed\); retry shortly$/],
    // A limit the policy demands is never waived, even when the operator's own buckets fail open.
    ["open", withObligation({ key: "grant:g", perMinute: 5 }), /^Rate limits cannot be checked right now \(the policy limits this call\); retry shortly$/],
  ] as const)("onStoreError: %s, %j", async (mode, trace, refusal) => {
    const stage = new RateLimitStage(broken, () => settings({ perAgent: { perMinute: 1 }, onStoreError: mode }));
    const pending = stage.admit(session(), trace, call)!;
    if (refusal === undefined) await expect(pending).resolves.toBeUndefined();
    else await expect(pending).rejects.toMatchObject({ code: -32013, message: expect.stringMatching(refusal) });
  });
});
