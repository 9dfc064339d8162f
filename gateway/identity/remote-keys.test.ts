// Keys fetched over real loopback HTTP: JWKS rotation and its rate limit, OIDC discovery for Kubernetes tokens,
// SPIFFE bundles, and fetches that never answer.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SignJWT, type JWTPayload } from "jose";
import { createAuthenticator } from "./authenticator.ts";
import { authError, jwks, manualClock, sign, startKeyServer, testKey, waitFor, type KeyServer } from "./testing.ts";
import type { IdentityConfig, IssuerConfig } from "./types.ts";

const AUDIENCE = "https://gatehouse.test/mcp";
let server: KeyServer;

beforeEach(async () => {
  server = await startKeyServer();
});

afterEach(async () => {
  await server.close();
});

const configWith = (issuer: IssuerConfig): IdentityConfig => ({ audience: AUDIENCE, requiredScopes: [], clockSkewSeconds: 60, issuers: [issuer] });

function claimsAt(nowMs: number, claims: JWTPayload): JWTPayload {
  const now = Math.floor(nowMs / 1000);
  return { aud: AUDIENCE, iat: now, exp: now + 600, ...claims };
}

describe("JWKS over HTTP", () => {
  it("refetches when a new kid appears, at most once per cooldown", async () => {
    const clock = manualClock();
    const oldKey = await testKey("RS256", "2026-01");
    const newKey = await testKey("ES256", "2026-02");
    const strangerKey = await testKey("ES256", "stranger");
    server.route("/jwks", jwks(oldKey));
    const authenticator = createAuthenticator(
      configWith({ name: "corp", kind: "oidc", issuer: "https://idp.test", jwksUri: `${server.url}/jwks`, algorithms: ["RS256", "ES256"], agentId: "{sub}" }),
      { now: clock.now, refetchCooldownMs: 10_000 },
    );
    const claims = () => claimsAt(clock.now(), { iss: "https://idp.test", sub: "agent" });

    await authenticator.verify(await sign(oldKey, claims()));
    expect(server.hits("/jwks")).toBe(1);

    // The issuer rotates. Its first token with the new kid arrives within the cooldown of our first fetch.
    server.route("/jwks", jwks(oldKey, newKey));
    clock.advance(10_000);
    expect((await authenticator.verify(await sign(newKey, claims()))).agentId).toBe("agent");
    expect(server.hits("/jwks")).toBe(2);

    // A flood of tokens with a kid the issuer never published: one refetch, shared, then none within the cooldown.
    clock.advance(10_000);
    const flood = await Promise.all(Array.from({ length: 5 }, async () => authError(authenticator.verify(await sign(strangerKey, claims())))));
    expect(flood.map((refusal) => refusal.error)).toEqual(Array(5).fill("invalid_token"));
    expect(server.hits("/jwks")).toBe(3);
    for (let i = 0; i < 5; i++) await authError(authenticator.verify(await sign(strangerKey, claims())));
    expect(server.hits("/jwks")).toBe(3);
    expect(authenticator.stats().failures.unknown_key).toBe(10);

    // Rotation completes: the old key is gone, and a new-key token keeps verifying without another fetch.
    server.route("/jwks", jwks(newKey));
    expect((await authenticator.verify(await sign(newKey, claims()))).issuer).toBe("corp");
    expect(server.hits("/jwks")).toBe(3);
  });

  it("a kid that appears within the cooldown waits for the cooldown", async () => {
    const clock = manualClock();
    const first = await testKey("ES256", "first");
    const second = await testKey("ES256", "second");
    server.route("/jwks", jwks(first));
    const authenticator = createAuthenticator(
      configWith({ name: "corp", kind: "oidc", issuer: "https://idp.test", jwksUri: `${server.url}/jwks`, algorithms: ["ES256"], agentId: "{sub}" }),
      { now: clock.now, refetchCooldownMs: 30_000 },
    );
    const claims = () => claimsAt(clock.now(), { iss: "https://idp.test", sub: "agent" });
    await authenticator.verify(await sign(first, claims()));
    server.route("/jwks", jwks(first, second));
    clock.advance(5_000);
    expect((await authError(authenticator.verify(await sign(second, claims())))).status).toBe(401);
    expect(server.hits("/jwks")).toBe(1);
    clock.advance(25_000);
    await expect(authenticator.verify(await sign(second, claims()))).resolves.toMatchObject({ agentId: "agent" });
    expect(server.hits("/jwks")).toBe(2);
  });

  it("refreshes a stale key set in the background while the old keys keep serving", async () => {
    const clock = manualClock();
    const key = await testKey("ES256", "k");
    server.route("/jwks", jwks(key));
    const authenticator = createAuthenticator(
      configWith({ name: "corp", kind: "oidc", issuer: "https://idp.test", jwksUri: `${server.url}/jwks`, algorithms: ["ES256"], agentId: "{sub}" }),
      { now: clock.now, keySetMaxAgeMs: 60_000 },
    );
    await authenticator.verify(await sign(key, claimsAt(clock.now(), { iss: "https://idp.test", sub: "a" })));
    server.route("/jwks", "hang"); // the refresh will never complete; verification must not wait for it
    clock.advance(61_000);
    const started = performance.now();
    await authenticator.verify(await sign(key, claimsAt(clock.now(), { iss: "https://idp.test", sub: "b" })));
    expect(performance.now() - started).toBeLessThan(1_000);
    await waitFor(() => server.hits("/jwks") === 2);
  });

  it("a JWKS endpoint that never answers fails verification within the fetch timeout", async () => {
    const key = await testKey("ES256", "k");
    server.route("/jwks", "hang");
    const authenticator = createAuthenticator(
      configWith({ name: "corp", kind: "oidc", issuer: "https://idp.test", jwksUri: `${server.url}/jwks`, algorithms: ["ES256"], agentId: "{sub}" }),
      { fetchTimeoutMs: 300 },
    );
    const started = performance.now();
    const refused = await authError(authenticator.verify(await sign(key, claimsAt(Date.now(), { iss: "https://idp.test", sub: "a" }))));
    const elapsed = performance.now() - started;
    expect(refused).toMatchObject({ status: 401, error: "invalid_token" });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2_000);
    expect(authenticator.stats().failures.keys_unavailable).toBe(1);
    // warmUp reports the same problem, for startup logs and readiness.
    const [load] = await authenticator.warmUp();
    expect(load).toMatchObject({ issuer: "corp", ok: false, error: expect.stringContaining("timed out") });
  });

  it("a JWKS endpoint that answers 404 or garbage is keys_unavailable, not a crash", async () => {
    const key = await testKey("ES256", "k");
    server.route("/jwks", { not: "a jwks" });
    const authenticator = createAuthenticator(
      configWith({ name: "corp", kind: "oidc", issuer: "https://idp.test", jwksUri: `${server.url}/missing`, algorithms: ["ES256"], agentId: "{sub}" }),
    );
    await authError(authenticator.verify(await sign(key, claimsAt(Date.now(), { iss: "https://idp.test", sub: "a" }))));
    expect(authenticator.stats().failures.keys_unavailable).toBe(1);
    const garbage = createAuthenticator(
      configWith({ name: "corp", kind: "oidc", issuer: "https://idp.test", jwksUri: `${server.url}/jwks`, algorithms: ["ES256"], agentId: "{sub}" }),
    );
    expect(await garbage.warmUp()).toEqual([expect.objectContaining({ ok: false, error: expect.stringContaining("not a JWK set") })]);
  });
});

describe("Kubernetes service-account tokens via discovery (a loopback server stands in for the API server's OIDC endpoints: no cluster runs here)", () => {
  const serviceAccountClaims = (issuer: string, namespace: string, name: string, nowMs: number): JWTPayload =>
    claimsAt(nowMs, {
      iss: issuer,
      sub: `system:serviceaccount:${namespace}:${name}`,
      "kubernetes.io": { namespace, pod: { name: `${name}-7d9f`, uid: "p-1" }, serviceaccount: { name, uid: "sa-1" } },
    });

  it("finds the JWKS through /.well-known/openid-configuration and derives namespace and service account", async () => {
    const key = await testKey("RS256", "k8s-1");
    server.route("/.well-known/openid-configuration", { issuer: server.url, jwks_uri: `${server.url}/openid/v1/jwks`, id_token_signing_alg_values_supported: ["RS256"] });
    server.route("/openid/v1/jwks", jwks(key));
    const authenticator = createAuthenticator(
      configWith({ name: "cluster", kind: "kubernetes", issuer: server.url, discovery: true, algorithms: ["RS256"], agentId: "{kubernetes.namespace}/{kubernetes.serviceAccount}" }),
    );
    const identity = await authenticator.verify(await sign(key, serviceAccountClaims(server.url, "payments", "checkout", Date.now())));
    expect(identity).toMatchObject({ agentId: "payments/checkout", issuer: "cluster", namespace: "payments", serviceAccount: "checkout" });
    expect(identity.subject).toBe("system:serviceaccount:payments:checkout");
    expect(server.hits("/.well-known/openid-configuration")).toBe(1);

    // sub and the kubernetes.io claim must name the same account.
    const forged = serviceAccountClaims(server.url, "payments", "checkout", Date.now());
    forged.sub = "system:serviceaccount:kube-system:admin";
    const refused = await authError(authenticator.verify(await sign(key, forged)));
    expect(refused.description).toMatch(/different service accounts/);

    // A token that is not a service-account token has no namespace to derive.
    const user = claimsAt(Date.now(), { iss: server.url, sub: "alice" });
    expect((await authError(authenticator.verify(await sign(key, user)))).error).toBe("invalid_token");
    expect(authenticator.stats().failures.identity).toBe(2);
  });

  it("refuses a discovery document that names another issuer", async () => {
    const key = await testKey("RS256", "k8s-1");
    server.route("/.well-known/openid-configuration", { issuer: "https://evil.test", jwks_uri: `${server.url}/openid/v1/jwks` });
    server.route("/openid/v1/jwks", jwks(key));
    const authenticator = createAuthenticator(
      configWith({ name: "cluster", kind: "kubernetes", issuer: server.url, discovery: true, algorithms: ["RS256"], agentId: "{kubernetes.namespace}/{kubernetes.serviceAccount}" }),
    );
    await authError(authenticator.verify(await sign(key, serviceAccountClaims(server.url, "payments", "checkout", Date.now()))));
    expect(authenticator.stats().failures.keys_unavailable).toBe(1);
    expect(server.hits("/openid/v1/jwks")).toBe(0);
  });
});

describe("SPIFFE JWT-SVIDs", () => {
  const spiffeIssuer = (overrides: Partial<IssuerConfig> = {}): IssuerConfig =>
    ({ name: "mesh", kind: "spiffe", trustDomain: "prod.example", bundleUri: `${server.url}/bundle`, algorithms: ["RS256", "ES256", "PS256"], agentId: "{sub}", ...overrides }) as IssuerConfig;

  it("keeps the bundle's jwt-svid keys (use stripped), ignores x509-svid ones, and checks the trust domain", async () => {
    const svidKey = await testKey("ES256", "svid-1");
    const psKey = await testKey("PS256", "svid-ps");
    const x509Key = await testKey("RS256", "x509-1");
    server.route("/bundle", {
      keys: [{ ...svidKey.publicJwk, use: "jwt-svid" }, { ...psKey.publicJwk, use: "jwt-svid" }, { ...x509Key.publicJwk, use: "x509-svid" }],
      spiffe_refresh_hint: 300,
    });
    const authenticator = createAuthenticator(configWith(spiffeIssuer()));
    const sub = "spiffe://prod.example/ns/payments/sa/checkout";

    const identity = await authenticator.verify(await sign(svidKey, claimsAt(Date.now(), { sub })));
    expect(identity).toMatchObject({ agentId: sub, issuer: "mesh", subject: sub, trustDomain: "prod.example" });
    await expect(authenticator.verify(await sign(psKey, claimsAt(Date.now(), { sub, iss: "https://ignored.example" })))).resolves.toBeDefined();

    // The x509-svid key is not for JWTs, even when the token names its kid.
    const x509Refusal = await authError(authenticator.verify(await sign(x509Key, claimsAt(Date.now(), { sub }))));
    expect(x509Refusal.error).toBe("invalid_token");
    expect(authenticator.stats().failures.unknown_key).toBe(1);

    const foreign = await authError(authenticator.verify(await sign(svidKey, claimsAt(Date.now(), { sub: "spiffe://staging.example/ns/payments/sa/checkout" }))));
    expect(foreign).toMatchObject({ status: 401, error: "invalid_token" });
    expect(foreign.description).toMatch(/trust domain/);

    const hmac = await new SignJWT(claimsAt(Date.now(), { sub })).setProtectedHeader({ alg: "HS256", kid: "svid-1" }).sign(new TextEncoder().encode("x".repeat(48)));
    const hmacRefusal = await authError(authenticator.verify(hmac));
    expect(hmacRefusal.error).toBe("invalid_token");
    expect(authenticator.stats().failures.algorithm).toBe(1);
    expect(authenticator.stats().failures.unknown_issuer).toBe(1);
  });

  it("templates can use the SPIFFE path, and a new bundle key is picked up on refetch", async () => {
    const clock = manualClock();
    const first = await testKey("ES256", "a");
    const second = await testKey("RS256", "b");
    server.route("/bundle", { keys: [{ ...first.publicJwk, use: "jwt-svid" }] });
    const authenticator = createAuthenticator(configWith(spiffeIssuer({ agentId: "mesh:{spiffe.path}" })), { now: clock.now, refetchCooldownMs: 1_000 });
    const claims = () => claimsAt(clock.now(), { sub: "spiffe://prod.example/workload/api" });
    expect((await authenticator.verify(await sign(first, claims()))).agentId).toBe("mesh:/workload/api");
    server.route("/bundle", { keys: [{ ...first.publicJwk, use: "jwt-svid" }, { ...second.publicJwk, use: "jwt-svid" }] });
    clock.advance(1_000);
    expect((await authenticator.verify(await sign(second, claims()))).agentId).toBe("mesh:/workload/api");
    expect(server.hits("/bundle")).toBe(2);
  });
});
