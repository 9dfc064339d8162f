import { describe, expect, it } from "vitest";
import { claimAtPath, compileAgentIdTemplate, kubernetesWorkload, parseScopes, parseSpiffeId, renderAgentId } from "./claims.ts";

describe("parseScopes", () => {
  it.each([
    { claims: { scope: "a b  c" }, scopes: ["a", "b", "c"] },
    { claims: { scp: ["a", "b"] }, scopes: ["a", "b"] },
    { claims: { scp: "a b" }, scopes: ["a", "b"] }, // Entra ID sends scp as a string
    { claims: { scope: "a b", scp: ["b", "c"] }, scopes: ["a", "b", "c"] },
    { claims: { scp: ["a", 7, null, ""] }, scopes: ["a"] },
    { claims: { scope: 42 }, scopes: [] },
    { claims: {}, scopes: [] },
  ])("$claims → $scopes", ({ claims, scopes }) => {
    expect(parseScopes(claims)).toEqual(scopes);
  });
});

describe("kubernetesWorkload", () => {
  const claim = (namespace: string, name: string) => ({ "kubernetes.io": { namespace, serviceaccount: { name, uid: "u" } } });

  it("reads sub, the kubernetes.io claim, or both when they agree", () => {
    expect(kubernetesWorkload({ sub: "system:serviceaccount:payments:checkout" })).toEqual({ namespace: "payments", serviceAccount: "checkout" });
    expect(kubernetesWorkload({ sub: "other", ...claim("payments", "checkout") })).toEqual({ namespace: "payments", serviceAccount: "checkout" });
    expect(kubernetesWorkload({ sub: "system:serviceaccount:payments:checkout", ...claim("payments", "checkout") })).toEqual({
      namespace: "payments",
      serviceAccount: "checkout",
    });
  });

  it("refuses disagreement, incomplete claims and tokens that are not service-account tokens", () => {
    expect(kubernetesWorkload({ sub: "system:serviceaccount:payments:checkout", ...claim("payments", "admin") })).toMatch(/different/);
    expect(kubernetesWorkload({ sub: "x", "kubernetes.io": { namespace: "payments" } })).toMatch(/lacks/);
    expect(kubernetesWorkload({ sub: "alice" })).toMatch(/not a service-account token/);
    expect(kubernetesWorkload({ sub: "system:serviceaccount:a:b:c" })).toMatch(/not a service-account token/);
  });
});

describe("parseSpiffeId", () => {
  it.each([
    ["spiffe://prod.example/ns/payments/sa/checkout", { trustDomain: "prod.example", path: "/ns/payments/sa/checkout" }],
    ["spiffe://prod.example/x", { trustDomain: "prod.example", path: "/x" }],
  ])("accepts %s", (id, parsed) => {
    expect(parseSpiffeId(id)).toEqual(parsed);
  });

  it.each([
    "spiffe://prod.example",
    "spiffe://prod.example/",
    "spiffe:///path",
    "spiffe://Prod.Example/x",
    "spiffe://prod.example/a/../b",
    "spiffe://prod.example/a//b",
    "spiffe://prod.example/a?b",
    "https://prod.example/x",
    42,
  ])("refuses %s", (id) => {
    expect(parseSpiffeId(id)).toBeUndefined();
  });
});

describe("agentId templates", () => {
  const claims = { sub: "alice", tenant: { id: "t1", tier: 3 }, "kubernetes.io": { namespace: "ns1" }, flag: true };

  it("renders claims, dotted paths (including claim names with dots) and derived values", () => {
    expect(renderAgentId(compileAgentIdTemplate("{sub}"), claims, {})).toBe("alice");
    expect(renderAgentId(compileAgentIdTemplate("{tenant.id}/{sub}#{tenant.tier}"), claims, {})).toBe("t1/alice#3");
    expect(renderAgentId(compileAgentIdTemplate("{kubernetes.io.namespace}"), claims, {})).toBe("ns1");
    const derived = { "kubernetes.namespace": "payments", "kubernetes.serviceAccount": "checkout" };
    expect(renderAgentId(compileAgentIdTemplate("{kubernetes.namespace}/{kubernetes.serviceAccount}"), claims, derived)).toBe("payments/checkout");
    expect(renderAgentId(compileAgentIdTemplate("spiffe:{spiffe.path}"), claims, { "spiffe.path": "/a/b" })).toBe("spiffe:/a/b");
  });

  it("does not let a claim stand in for a derived value", () => {
    const spoofing = { sub: "x", kubernetes: { namespace: "kube-system", serviceAccount: "admin" } };
    expect(renderAgentId(compileAgentIdTemplate("{kubernetes.namespace}/{kubernetes.serviceAccount}"), spoofing, {})).toBeUndefined();
  });

  it("is unresolvable for missing, non-scalar, empty or control-character values", () => {
    expect(renderAgentId(compileAgentIdTemplate("{email}"), claims, {})).toBeUndefined();
    expect(renderAgentId(compileAgentIdTemplate("{tenant}"), claims, {})).toBeUndefined();
    expect(renderAgentId(compileAgentIdTemplate("{flag}"), claims, {})).toBeUndefined();
    expect(renderAgentId(compileAgentIdTemplate("{sub}"), { sub: "" }, {})).toBeUndefined();
    expect(renderAgentId(compileAgentIdTemplate("{sub}"), { sub: "a\nforged log line" }, {})).toBeUndefined();
    expect(renderAgentId(compileAgentIdTemplate("{sub}"), { sub: "x".repeat(300) }, {})).toBeUndefined();
  });

  it.each(["{sub", "sub}", "{}", "{a..b}", "constant", "{kubernetes.pod}"])("refuses the malformed template %s", (template) => {
    expect(() => compileAgentIdTemplate(template)).toThrow();
  });

  it("claimAtPath prefers the longest key that exists", () => {
    expect(claimAtPath({ "a.b": { c: 1 }, a: { b: { c: 2 } } }, ["a", "b", "c"])).toBe(1);
    expect(claimAtPath({ a: { b: { c: 2 } } }, ["a", "b", "c"])).toBe(2);
    expect(claimAtPath({ a: [1] }, ["a", "0"])).toBeUndefined();
  });
});
