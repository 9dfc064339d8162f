import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { AgentIdentity } from "../identity/index.ts";
import type { PolicyOutcome } from "../policy/index.ts";
import { buildEntry, type ArgumentsMode, type RequestFacts } from "./entry.ts";
import { REDACTED } from "./redact.ts";

// Assembled from parts so the file itself never trips a secret scanner.
const GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";

const identity: AgentIdentity = {
  agentId: "agent-a",
  issuer: "dev",
  subject: "alice",
  scopes: ["tools:read"],
  claims: { iss: "https://issuer.test", aud: "gatehouse", sub: "alice", email: "alice@example.test", jti: "j1", iat: 1, exp: 2, azp: "cli", client_id: "c1", scope: "tools:read" },
  expiresAt: 2,
};

function arguments_() {
  return { path: "/srv/report.csv", ssn: "078-05-1120", nested: { pin: "1234", keep: 1 }, note: `use ${GHP} please` };
}

function facts(options: { redact?: unknown; shadow?: PolicyOutcome["shadow"]; policy?: boolean } = {}): RequestFacts {
  const args = arguments_();
  const outcome: PolicyOutcome = {
    allow: true,
    reasons: ["grant read"],
    obligations: options.redact === undefined ? {} : { redact: options.redact },
    revision: "rev-1",
    effect: "allow",
    evalMicros: 12,
    shadow: options.shadow,
  };
  return {
    kind: "request",
    identity,
    session: { id: "s1", clientInfo: { name: "client", version: "1.0" }, protocolVersion: "2025-06-18" },
    method: "tools/call",
    route: { server: "files", tool: "read_file" },
    arguments: args,
    policy:
      options.policy === false
        ? undefined
        : {
            outcome,
            input: {
              version: 1,
              identity: { agentId: "agent-a", claims: { ...identity.claims } },
              request: { method: "tools/call", server: "files", tool: "read_file", arguments: args },
              session: { id: "s1" },
            },
          },
    outcome: { status: "ok" },
    timings: { totalUs: 100, upstreamUs: 50 },
    bytes: { in: 10, out: 20 },
    traceId: "t".repeat(32),
  };
}

/** sha256 of the canonical JSON of arguments_(), written out by hand (keys sorted, no whitespace). */
const RAW_ARGS_SHA = createHash("sha256")
  .update(`{"nested":{"keep":1,"pin":"1234"},"note":"use ${GHP} please","path":"/srv/report.csv","ssn":"078-05-1120"}`)
  .digest("hex");

const POLICY_POINTERS = ["/request/arguments/ssn", "/request/arguments/nested/pin", "/identity/claims"];

describe("buildEntry redaction", () => {
  it("applies the policy's pointers to arguments and input, and lists them against the record", () => {
    const given = facts({ redact: POLICY_POINTERS });
    const before = structuredClone(given);
    const built = buildEntry(given, { replica: "r1", arguments: "redacted" });
    expect(built.arguments).toEqual({ path: "/srv/report.csv", ssn: REDACTED, nested: { pin: REDACTED, keep: 1 }, note: "use [REDACTED:github-token] please" });
    expect(built.input).toEqual({
      version: 1,
      identity: { agentId: "agent-a", claims: REDACTED },
      request: { method: "tools/call", server: "files", tool: "read_file" },
      session: { id: "s1" },
    });
    expect(built.redacted).toEqual({ pointers: ["/arguments/nested/pin", "/arguments/note", "/arguments/ssn", "/input/identity/claims"], detectors: ["github-token"] });
    expect(given).toEqual(before);
  });

  it.each<{ mode: ArgumentsMode; args: unknown; pointers: string[]; detectors: string[] }>([
    {
      mode: "redacted",
      args: { path: "/srv/report.csv", ssn: REDACTED, nested: { pin: "1234", keep: 1 }, note: "use [REDACTED:github-token] please" },
      pointers: ["/arguments/note", "/arguments/ssn"],
      detectors: ["github-token"],
    },
    { mode: "raw", args: { path: "/srv/report.csv", ssn: REDACTED, nested: { pin: "1234", keep: 1 }, note: `use ${GHP} please` }, pointers: ["/arguments/ssn"], detectors: [] },
    { mode: "omit", args: undefined, pointers: [], detectors: [] },
  ])("arguments: $mode", ({ mode, args, pointers, detectors }) => {
    const built = buildEntry(facts({ redact: ["/request/arguments/ssn"] }), { replica: "r1", arguments: mode });
    expect(built.arguments).toEqual(args);
    expect(built.args_sha256).toBe(RAW_ARGS_SHA);
    expect(built.redacted).toEqual(pointers.length === 0 ? undefined : { pointers, detectors });
    expect((built.input!.request as Record<string, unknown>).arguments).toBeUndefined();
    expect(JSON.stringify(built.input)).not.toContain("078-05-1120");
  });

  it.each([
    { name: "request.arguments itself", pointer: "/request/arguments", input: { method: "tools/call", server: "files", tool: "read_file" }, inputPointers: [] },
    { name: "the whole request", pointer: "/request", input: REDACTED, inputPointers: ["/input/request"] },
  ])("a pointer to $name takes the arguments whole, in raw mode too", ({ pointer, input, inputPointers }) => {
    const built = buildEntry(facts({ redact: [pointer] }), { replica: "r1", arguments: "raw" });
    expect(built.arguments).toBe(REDACTED);
    expect(built.input!.request).toEqual(input);
    expect(built.redacted!.pointers).toEqual(["/arguments", ...inputPointers]);
    expect(built.args_sha256).toBe(RAW_ARGS_SHA);
  });

  it("a pointer to a sibling whose name starts with 'arguments' applies to the input", () => {
    const given = facts({ redact: ["/request/argumentsHint"] });
    (given.policy!.input.request as Record<string, unknown>).argumentsHint = "secret-ish";
    const built = buildEntry(given, { replica: "r1", arguments: "raw" });
    expect((built.input!.request as Record<string, unknown>).argumentsHint).toBe(REDACTED);
    expect(built.redacted!.pointers).toEqual(["/input/request/argumentsHint"]);
    expect(built.arguments).toEqual(arguments_());
  });

  it("the whole-document pointer redacts the input and the arguments", () => {
    const built = buildEntry(facts({ redact: [""] }), { replica: "r1", arguments: "raw" });
    expect([built.arguments, built.input]).toEqual([REDACTED, REDACTED]);
    expect(built.redacted!.pointers).toEqual(["/arguments", "/input"]);
  });

  it.each([
    { name: "not an array", redact: "/request/arguments/ssn" },
    { name: "not strings or not pointers", redact: [7, null, "request/arguments/ssn"] },
    { name: "pointers that resolve to nothing", redact: ["/request/arguments/missing", "/nowhere"] },
  ])("ignores obligations that are $name", ({ redact }) => {
    const built = buildEntry(facts({ redact }), { replica: "r1", arguments: "raw" });
    expect(built.arguments).toEqual(arguments_());
    expect(built.redacted).toBeUndefined();
  });

  it("masks secrets the policy did not name in the input, whatever the arguments mode", () => {
    const given = facts();
    (given.policy!.input.session as Record<string, unknown>).note = `token ${GHP}`;
    const built = buildEntry(given, { replica: "r1", arguments: "raw" });
    expect(built.input!.session).toEqual({ id: "s1", note: "token [REDACTED:github-token]" });
    expect(built.redacted).toEqual({ pointers: ["/input/session/note"], detectors: ["github-token"] });
  });
});

describe("buildEntry fields", () => {
  it("masks secrets in the URI, the error message and the reasons too", () => {
    const leaked = "postgres://admin:S3cretPw@db/x";
    const entry = buildEntry(
      { ...facts(), route: { server: "db", uri: leaked }, outcome: { status: "error", code: -32603, message: `cannot open ${leaked}` }, refusal: { result: "none", reasons: [`bad ${leaked}`] }, policy: undefined },
      { replica: "r", arguments: "redacted" },
    );
    expect(JSON.stringify(entry)).not.toContain("S3cretPw");
    expect(entry.uri).toBe("postgres://admin:[REDACTED:url-password]@db/x");
    expect(entry.redacted?.pointers).toEqual(expect.arrayContaining(["/uri", "/outcome/message", "/decision/reasons/0"]));
  });

  it("copies the request's facts and keeps only key claims of the identity", () => {
    const built = buildEntry(facts(), { replica: "r1", arguments: "omit" });
    expect(built).toMatchObject({
      kind: "request",
      replica: "r1",
      agent: { id: "agent-a", issuer: "dev", subject: "alice", scopes: ["tools:read"], claims: { iss: "https://issuer.test", aud: "gatehouse", jti: "j1", iat: 1, exp: 2, azp: "cli", client_id: "c1" } },
      session: { id: "s1", client: { name: "client", version: "1.0" }, protocol_version: "2025-06-18" },
      method: "tools/call",
      server: "files",
      tool: "read_file",
      decision: { result: "allow", reasons: ["grant read"], revision: "rev-1" },
      outcome: { status: "ok" },
      metrics: { total_us: 100, policy_us: 12, upstream_us: 50 },
      bytes: { in: 10, out: 20 },
      trace_id: "t".repeat(32),
    });
    expect(Object.keys(built.agent!.claims).sort()).toEqual(["aud", "azp", "client_id", "exp", "iat", "iss", "jti"]);
    expect(built.decision_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Date.parse(built.timestamp)).not.toBeNaN();
    expect(buildEntry(facts(), { replica: "r1", arguments: "omit" }).decision_id).not.toBe(built.decision_id);
  });

  it.each([
    { name: "disagrees", disagrees: true, shadow: { allow: false, reasons: ["shadow says no"], revision: "rev-2", error: undefined } },
    { name: "agrees", disagrees: false, shadow: undefined },
  ])("a shadow bundle that $name", ({ disagrees, shadow }) => {
    const built = buildEntry(facts({ shadow: { allow: false, reasons: ["shadow says no"], revision: "rev-2", disagrees, evalMicros: 3 } }), { replica: "r1", arguments: "omit" });
    expect(built.decision.shadow).toEqual(shadow);
  });

  it.each([
    { refusal: { result: "deny" as const, reasons: ["invalid_token"] }, decision: { result: "deny", reasons: ["invalid_token"] } },
    { refusal: undefined, decision: { result: "none", reasons: [] } },
  ])("without a policy decision: $decision.result", ({ refusal, decision }) => {
    const given = { ...facts({ policy: false }), refusal, arguments: undefined };
    const built = buildEntry(given, { replica: "r1", arguments: "redacted" });
    expect(built.decision).toEqual(decision);
    expect([built.input, built.arguments, built.args_sha256, built.metrics.policy_us]).toEqual([undefined, undefined, undefined, undefined]);
  });
});
