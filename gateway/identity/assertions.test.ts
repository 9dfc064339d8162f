// Gateway-signed assertions for backends: verifiable against the published JWKS, short-lived, and reused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLocalJWKSet, jwtVerify } from "jose";
import { GATEWAY_KEY_DIR, loadOrCreateGatewayKey, mintAssertion, publicJwks, type GatewayKey } from "./assertions.ts";
import { manualClock } from "./testing.ts";
import type { AgentIdentity } from "./types.ts";

let dataDir: string;
let key: GatewayKey;

const agent = (overrides: Partial<AgentIdentity> = {}): AgentIdentity => ({
  agentId: "payments/checkout",
  issuer: "cluster",
  subject: "system:serviceaccount:payments:checkout",
  scopes: [],
  claims: {},
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
  ...overrides,
});

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "gatehouse-assertions-"));
  key = await loadOrCreateGatewayKey(dataDir);
});

afterAll(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe("gateway key", () => {
  it("is persisted with a 0600 private key and reused", async () => {
    expect((await stat(path.join(dataDir, GATEWAY_KEY_DIR, "private.jwk.json"))).mode & 0o777).toBe(0o600);
    expect((await loadOrCreateGatewayKey(dataDir)).kid).toBe(key.kid);
  });

  it("publishes only the public half", () => {
    const document = publicJwks(key);
    expect(document.keys).toEqual([expect.objectContaining({ kty: "EC", crv: "P-256", kid: key.kid, alg: "ES256", use: "sig" })]);
    expect(document.keys[0]).not.toHaveProperty("d");
  });
});

describe("mintAssertion", () => {
  it("verifies against publicJwks with aud = server, sub = agentId, act.sub = gateway, exp ≤ 60 s", async () => {
    const assertion = await mintAssertion({ key, gatewayId: "gatehouse:test", identity: agent(), audience: "billing", ttlSeconds: 60 });
    const { payload, protectedHeader } = await jwtVerify(assertion, createLocalJWKSet(publicJwks(key)), { audience: "billing", issuer: "gatehouse:test" });
    expect(protectedHeader).toMatchObject({ alg: "ES256", kid: key.kid });
    expect(payload).toMatchObject({ sub: "payments/checkout", act: { sub: "gatehouse:test" }, aud: "billing" });
    expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(60);
    expect(payload.exp! - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(60);
    await expect(jwtVerify(assertion, createLocalJWKSet(publicJwks(key)), { audience: "another-server" })).rejects.toThrow();
  });

  it("is reused per (agent, server) until shortly before expiry", async () => {
    const clock = manualClock();
    const mint = (audience: string, identity = agent()) => mintAssertion({ key, gatewayId: "gw", identity, audience, ttlSeconds: 60, now: clock.now });
    const first = await mint("billing");
    expect(await mint("billing")).toBe(first);
    expect(await mint("search")).not.toBe(first);
    expect(await mint("billing", agent({ agentId: "someone-else" }))).not.toBe(first);
    clock.advance(45_000);
    expect(await mint("billing")).toBe(first);
    clock.advance(10_000); // 5 s left: too little for a backend to use, so a fresh one
    const renewed = await mint("billing");
    expect(renewed).not.toBe(first);
    const { payload } = await jwtVerify(renewed, createLocalJWKSet(publicJwks(key)), { audience: "billing", currentDate: new Date(clock.now()) });
    expect(payload.iat).toBe(Math.floor(clock.now() / 1000));
  });

  it("never outlives the agent's own token, and refuses a ttl above 60 s", async () => {
    const soon = Math.floor(Date.now() / 1000) + 20;
    const assertion = await mintAssertion({ key, gatewayId: "gw", identity: agent({ agentId: "short-lived", expiresAt: soon }), audience: "billing" });
    const { payload } = await jwtVerify(assertion, createLocalJWKSet(publicJwks(key)), { audience: "billing" });
    expect(payload.exp).toBe(soon);
    await expect(mintAssertion({ key, gatewayId: "gw", identity: agent(), audience: "billing", ttlSeconds: 61 })).rejects.toThrow(RangeError);
    await expect(mintAssertion({ key, gatewayId: "gw", identity: agent({ expiresAt: 1 }), audience: "billing" })).rejects.toThrow(/expired/);
  });
});
