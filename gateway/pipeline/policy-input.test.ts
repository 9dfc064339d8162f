import { describe, expect, it } from "vitest";
import type { AgentIdentity } from "../identity/index.ts";
import { ClientSession } from "../session/index.ts";
import { buildEntry } from "../audit/index.ts";
import type { ToolRoute } from "../routing/index.ts";
import type { PolicyOutcome } from "../policy/index.ts";
import { policyInput, type PolicyRequest } from "./policy-input.ts";

const identity: AgentIdentity = { agentId: "agent-1", issuer: "corp", subject: "agent-1", scopes: ["mcp"], claims: { sub: "agent-1" }, expiresAt: 4_000_000_000 };
const session = new ClientSession({ protocolVersion: "2025-11-25", identity, clientInfo: { name: "c", version: "1" } });
const tool: ToolRoute = { server: "files", originalName: "read", definition: { name: "files__read", inputSchema: { type: "object" }, annotations: { readOnlyHint: true } }, hash: "abc", headerParams: [] };
const NOW = Date.parse("2026-11-22T10:00:00.000Z");

const allow = (redact: string[]): PolicyOutcome => ({ allow: true, effect: "allow", reasons: [], obligations: { redact }, evalMicros: 1 }) as unknown as PolicyOutcome;

describe("policyInput", () => {
  it.each<{ name: string; request: PolicyRequest; tool?: ToolRoute; keys: string[] }>([
    { name: "a tool call carries the tool", request: { method: "tools/call", server: "files", tool: "read", arguments: {} }, tool, keys: ["gateway", "identity", "request", "session", "time", "tool", "version"] },
    { name: "a prompt has no tool key at all", request: { method: "prompts/get", server: "files", prompt: "p" }, keys: ["gateway", "identity", "request", "session", "time", "version"] },
  ])("$name, keys in canonical order", ({ request, tool: route, keys }) => {
    const input = policyInput(session, request, "r1", route, NOW);
    expect(Object.keys(input)).toEqual(keys);
    expect(input.time).toEqual({ now_ns: NOW * 1_000_000, rfc3339: "2026-11-22T10:00:00.000Z" });
    expect(input.identity).not.toHaveProperty("expiresAt");
  });

  it.each([
    { name: "without a tool, a redact pointer at /tool finds nothing", route: undefined, pointers: undefined, tool: undefined },
    { name: "with a tool, it redacts the tool", route: tool, pointers: ["/input/tool"], tool: "[REDACTED]" },
  ])("$name", ({ route, pointers, tool: recordedTool }) => {
    const request: PolicyRequest = route === undefined ? { method: "prompts/get", server: "files", prompt: "p" } : { method: "tools/call", server: "files", tool: "read", arguments: {} };
    const input = policyInput(session, request, "r1", route, NOW) as unknown as Record<string, unknown>;
    const entry = buildEntry(
      { kind: "request", identity, method: request.method, policy: { outcome: allow(["/tool"]), input }, outcome: { status: "ok" }, timings: { totalUs: 1 }, bytes: { in: 1, out: 1 }, traceId: "t" },
      { replica: "r1", arguments: "redacted" },
    );
    expect(entry.redacted?.pointers).toEqual(pointers);
    expect(entry.input?.tool).toEqual(recordedTool);
  });
});
