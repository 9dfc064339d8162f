// verify() against real signed tokens: every deliberately broken one is refused with the right status and reason.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { base64url, exportSPKI, SignJWT, type JWTPayload } from "jose";
import { createAuthenticator, IdentityConfigError } from "./authenticator.ts";
import { validateIdentityConfig } from "./issuers.ts";
import { authError, jwks, manualClock, nowSeconds, sign, startKeyServer, testKey, type KeyServer, type TestKey } from "./testing.ts";
import type { FailureReason, IdentityConfig, IssuerConfig } from "./types.ts";

const AUDIENCE = "https://gatehouse.test/mcp";
const IDP = "https://idp.test";
const SECRET = "a-shared-secret-of-at-least-32-bytes!";

let server: KeyServer;
let dir: string;
let rsa: TestKey;
let rsaOther: TestKey;
let ec: TestKey;
let config: IdentityConfig;

beforeAll(async () => {
  server = await startKeyServer();
  dir = await mkdtemp(path.join(tmpdir(), "gatehouse-identity-auth-"));
  rsa = await testKey("RS256", "rsa-1");
  rsaOther = await testKey("RS256", "rsa-stranger");
  ec = await testKey("ES256", "ec-1");
  server.route("/jwks", jwks(rsa));
  await writeFile(path.join(dir, "static.json"), JSON.stringify(jwks(ec)));
  config = {
    audience: AUDIENCE,
    requiredScopes: [],
    clockSkewSeconds: 60,
    issuers: [
      { name: "corp", kind: "oidc", issuer: IDP, jwksUri: `${server.url}/jwks`, algorithms: ["RS256", "ES256"], agentId: "{sub}" },
      { name: "local", kind: "static", issuer: "local", jwksFile: path.join(dir, "static.json"), secret: SECRET, algorithms: ["ES256", "HS256"], agentId: "local:{sub}" },
    ],
  };
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const valid = (overrides: JWTPayload = {}): JWTPayload => {
  const now = nowSeconds();
  return { iss: IDP, sub: "agent-1", aud: AUDIENCE, iat: now, nbf: now, exp: now + 300, ...overrides };
};

/** A signature made with an arbitrary HMAC key: how algorithm-confusion and alg=none tokens are forged. */
async function hmacToken(claims: JWTPayload, keyBytes: Uint8Array, kid = "rsa-1"): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", kid }).sign(keyBytes);
}

function unsigned(claims: JWTPayload): string {
  const encode = (value: unknown) => base64url.encode(JSON.stringify(value));
  return `${encode({ alg: "none", typ: "JWT" })}.${encode(claims)}.`;
}

async function tampered(): Promise<string> {
  const [header, , signature] = (await sign(rsa, valid())).split(".");
  return `${header}.${base64url.encode(JSON.stringify(valid({ sub: "admin" })))}.${signature}`;
}

describe("broken tokens are refused", () => {
  const cases: Array<{ name: string; token: () => Promise<string>; reason: FailureReason; error?: string }> = [
    { name: "alg: none", token: async () => unsigned(valid()), reason: "algorithm" },
    {
      name: "HS256 signed with the RSA public key (algorithm confusion)",
      token: async () => hmacToken(valid(), new TextEncoder().encode(await exportSPKI(rsa.publicKey))),
      reason: "algorithm",
    },
    { name: "expired beyond the clock skew", token: () => sign(rsa, valid({ exp: nowSeconds() - 120 })), reason: "expired" },
    { name: "nbf in the future", token: () => sign(rsa, valid({ nbf: nowSeconds() + 600 })), reason: "not_yet_valid" },
    { name: "iat in the future beyond the skew", token: () => sign(rsa, valid({ iat: nowSeconds() + 600 })), reason: "not_yet_valid" },
    { name: "wrong aud", token: () => sign(rsa, valid({ aud: "https://elsewhere/mcp" })), reason: "claims" },
    { name: "no aud", token: () => sign(rsa, valid({ aud: undefined })), reason: "claims" },
    { name: "wrong iss", token: () => sign(rsa, valid({ iss: "https://evil.test" })), reason: "unknown_issuer" },
    { name: "no iss (and not SPIFFE)", token: () => sign(rsa, valid({ iss: undefined })), reason: "unknown_issuer" },
    { name: "no exp", token: () => sign(rsa, valid({ exp: undefined })), reason: "claims" },
    { name: "no sub", token: () => sign(rsa, valid({ sub: undefined })), reason: "claims" },
    { name: "unknown kid", token: () => sign(rsaOther, valid()), reason: "unknown_key" },
    { name: "right kid, wrong key", token: () => sign({ ...rsaOther, kid: "rsa-1" }, valid()), reason: "signature" },
    { name: "iss of one issuer, signed by another's key", token: () => sign(ec, valid()), reason: "unknown_key" },
    { name: "tampered payload", token: tampered, reason: "signature" },
    { name: "oversized token", token: () => sign(rsa, valid({ padding: "x".repeat(9 * 1024) })), reason: "too_large" },
    { name: "not a JWT at all", token: async () => "Zm9vYmFy.YmF6cXV4.c2lnbmF0dXJl", reason: "malformed" },
    { name: "a JWE-shaped token", token: async () => "a.b.c.d.e", reason: "malformed" },
    {
      name: "HS256 signed with the EC public key, against an issuer that also has a secret",
      token: async () => hmacToken(valid({ iss: "local" }), new TextEncoder().encode(await exportSPKI(ec.publicKey)), "ec-1"),
      reason: "signature",
    },
    { name: "HS256 with the wrong secret", token: () => hmacToken(valid({ iss: "local" }), new TextEncoder().encode("x".repeat(40))), reason: "signature" },
    { name: "an empty token", token: async () => "", reason: "missing_token", error: "invalid_request" },
  ];

  it.each(cases)("$name", async ({ token, reason, error }) => {
    const authenticator = createAuthenticator(config);
    const raw = await token();
    const refused = await authError(authenticator.verify(raw));
    expect(refused.status).toBe(401);
    expect(refused.error).toBe(error ?? "invalid_token");
    expect(authenticator.stats().failures[reason]).toBe(1);
    expect(refused.description).not.toContain(raw || "never empty");
    for (const segment of raw.split(".")) if (segment.length > 8) expect(refused.description).not.toContain(segment);
  });

  it("accepts the untampered token, HS256 with the configured secret, and exp within the clock skew", async () => {
    const authenticator = createAuthenticator(config);
    const identity = await authenticator.verify(await sign(rsa, valid({ scope: "a b" })));
    expect(identity).toMatchObject({ agentId: "agent-1", issuer: "corp", subject: "agent-1", scopes: ["a", "b"] });
    expect(identity.namespace).toBeUndefined();
    const hmac = await authenticator.verify(await hmacToken(valid({ iss: "local" }), new TextEncoder().encode(SECRET), "any"));
    expect(hmac.agentId).toBe("local:agent-1");
    expect((await authenticator.verify(await sign(ec, valid({ iss: "local" })))).issuer).toBe("local");
    await expect(authenticator.verify(await sign(rsa, valid({ exp: nowSeconds() - 30 })))).resolves.toMatchObject({ agentId: "agent-1" });
  });
});

describe("tokens without a kid", () => {
  it("are checked against each usable key of the set, and refused when none signed them", async () => {
    const keys = await Promise.all(["one", "two"].map((kid) => testKey("ES256", kid)));
    const stranger = await testKey("ES256", "stranger");
    const file = path.join(dir, "two-keys.json");
    await writeFile(file, JSON.stringify(jwks(...keys)));
    const authenticator = createAuthenticator({
      ...config,
      issuers: [{ name: "pair", kind: "static", issuer: "pair", jwksFile: file, algorithms: ["ES256"], agentId: "{sub}" }],
    });
    const noKid = (key: TestKey) => new SignJWT(valid({ iss: "pair" })).setProtectedHeader({ alg: "ES256" }).sign(key.privateKey);
    await expect(authenticator.verify(await noKid(keys[1]!))).resolves.toMatchObject({ issuer: "pair" });
    expect((await authError(authenticator.verify(await noKid(stranger)))).error).toBe("invalid_token");
    expect(authenticator.stats().failures.signature).toBe(1);
  });
});

describe("scopes", () => {
  it("a missing required scope is 403 insufficient_scope naming it; scope and scp both count", async () => {
    const authenticator = createAuthenticator({ ...config, requiredScopes: ["tools:call", "files:read"] });
    const refused = await authError(authenticator.verify(await sign(rsa, valid({ scope: "tools:call" }))));
    expect(refused).toMatchObject({ status: 403, error: "insufficient_scope", missingScopes: ["files:read"], scope: "files:read" });
    expect(refused.description).toContain("files:read");
    expect(authenticator.stats().failures.insufficient_scope).toBe(1);

    await expect(authenticator.verify(await sign(rsa, valid({ scp: ["files:read", "tools:call"] })))).resolves.toBeDefined();
    await expect(authenticator.verify(await sign(rsa, valid({ scope: "files:read", scp: ["tools:call"] })))).resolves.toBeDefined();
    const none = await authError(authenticator.verify(await sign(rsa, valid())));
    expect(none.missingScopes).toEqual(["tools:call", "files:read"]);
  });

  it("a cached token is still held to the required scopes", async () => {
    const authenticator = createAuthenticator({ ...config, requiredScopes: ["tools:call"] });
    const token = await sign(rsa, valid());
    await authError(authenticator.verify(token));
    expect((await authError(authenticator.verify(token))).status).toBe(403);
    expect(authenticator.stats()).toMatchObject({ verifications: 1, cacheHits: 1 });
  });
});

describe("the verified-token cache", () => {
  it("a second verify of the same token is a cache hit, not a second verification", async () => {
    const authenticator = createAuthenticator(config);
    const token = await sign(rsa, valid());
    const first = await authenticator.verify(token);
    const second = await authenticator.verify(token);
    expect(second).toBe(first);
    expect(authenticator.stats()).toMatchObject({ requests: 2, verifications: 1, cacheHits: 1 });
    expect(() => {
      (first.scopes as string[]).push("admin");
    }).toThrow(); // frozen: one request cannot change what the next one sees
  });

  it("a cached token is refused once it expires", async () => {
    const clock = manualClock();
    const authenticator = createAuthenticator(config, { now: clock.now });
    const now = Math.floor(clock.now() / 1000);
    const token = await sign(rsa, valid({ iat: now, nbf: now, exp: now + 100 }));
    await authenticator.verify(token);
    clock.advance(50_000);
    await authenticator.verify(token);
    expect(authenticator.stats().cacheHits).toBe(1);
    clock.advance(120_000); // exp + 70 s: past the 60 s skew too
    const refused = await authError(authenticator.verify(token));
    expect(refused.error).toBe("invalid_token");
    expect(authenticator.stats()).toMatchObject({ verifications: 2, cacheHits: 1, failures: expect.objectContaining({ expired: 1 }) });
  });

  it("is bounded: the oldest entry is evicted first", async () => {
    const authenticator = createAuthenticator(config, { cacheEntries: 2 });
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((sub) => sign(rsa, valid({ sub }))));
    for (const token of [a!, b!, c!, c!, b!]) await authenticator.verify(token);
    expect(authenticator.stats()).toMatchObject({ verifications: 3, cacheHits: 2 });
    await authenticator.verify(a!);
    expect(authenticator.stats().verifications).toBe(4);
  });
});

describe("config checks", () => {
  const base = (issuer: Partial<IssuerConfig> & Pick<IssuerConfig, "kind">): IdentityConfig =>
    ({ audience: AUDIENCE, requiredScopes: [], clockSkewSeconds: 60, issuers: [{ name: "x", algorithms: ["RS256"], agentId: "{sub}", ...issuer }] }) as IdentityConfig;

  it.each([
    { name: "none as an algorithm", config: base({ kind: "oidc", issuer: IDP, jwksUri: "https://idp.test/jwks", algorithms: ["none"] }), field: "algorithms" },
    { name: "HS256 on an oidc issuer", config: base({ kind: "oidc", issuer: IDP, jwksUri: "https://idp.test/jwks", algorithms: ["RS256", "HS256"] }), field: "algorithms" },
    { name: "HS256 on a static issuer without a secret", config: base({ kind: "static", issuer: "s", jwksFile: "/k.json", algorithms: ["HS256"] }), field: "algorithms" },
    { name: "a short secret", config: base({ kind: "static", issuer: "s", secret: "short", algorithms: ["HS256"] }), field: "secret" },
    { name: "ES256 on SPIFFE is fine but EdDSA is not", config: base({ kind: "spiffe", trustDomain: "td", bundleFile: "/b.json", algorithms: ["ES256", "EdDSA"] }), field: "algorithms" },
    { name: "HS256 on SPIFFE", config: base({ kind: "spiffe", trustDomain: "td", bundleFile: "/b.json", algorithms: ["HS256"] }), field: "algorithms" },
    { name: "two key sources", config: base({ kind: "oidc", issuer: IDP, jwksUri: "https://idp.test/jwks", discovery: true }), field: "jwksUri" },
    { name: "no key source", config: base({ kind: "kubernetes", issuer: IDP }), field: "jwksUri" },
    { name: "a relative jwksFile", config: base({ kind: "oidc", issuer: IDP, jwksFile: "keys.json" }), field: "jwksFile" },
    { name: "a derived value of another kind", config: base({ kind: "oidc", issuer: IDP, jwksFile: "/k.json", agentId: "{kubernetes.namespace}" }), field: "agentId" },
    { name: "an unknown algorithm", config: base({ kind: "oidc", issuer: IDP, jwksFile: "/k.json", algorithms: ["RS1"] }), field: "algorithms" },
  ])("refuses $name", ({ config: bad, field }) => {
    const problems = validateIdentityConfig(bad);
    expect(problems.map((problem) => problem.path.at(-1))).toContain(field);
    expect(() => createAuthenticator(bad)).toThrow(IdentityConfigError);
  });

  it("refuses two issuers claiming one iss, and accepts the test config", () => {
    expect(validateIdentityConfig(config)).toEqual([]);
    const twice = { ...config, issuers: [config.issuers[0]!, { ...config.issuers[0]!, name: "again" }] };
    expect(validateIdentityConfig(twice)).toEqual([expect.objectContaining({ path: ["issuers", 1, "issuer"] })]);
  });
});
