// The dev issuer on a real data directory: created once with a private 0600 key, reused, and its tokens verify.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { chmod, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createAuthenticator } from "./authenticator.ts";
import { DEV_ISSUER, DEV_ISSUER_DIR, ensureDevIssuer, mintDevToken } from "./dev-issuer.ts";
import { authError } from "./testing.ts";

let dataDir: string;

beforeEach(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "gatehouse-dev-issuer-"));
});

afterEach(async () => {
  await rm(dataDir, { recursive: true, force: true });
});

describe("ensureDevIssuer", () => {
  it("creates an ES256 keypair once, private key 0600, public jwks.json with a kid, and reuses it", async () => {
    const first = await ensureDevIssuer(dataDir);
    expect(first.issuer).toBe(DEV_ISSUER);
    expect(first.jwksFile).toBe(path.join(dataDir, DEV_ISSUER_DIR, "jwks.json"));
    const privateFile = path.join(dataDir, DEV_ISSUER_DIR, "private.jwk.json");
    expect((await stat(privateFile)).mode & 0o777).toBe(0o600);
    expect((await stat(path.join(dataDir, DEV_ISSUER_DIR))).mode & 0o077).toBe(0);

    const published = JSON.parse(await readFile(first.jwksFile, "utf8")) as { keys: Array<Record<string, unknown>> };
    expect(published.keys).toHaveLength(1);
    expect(published.keys[0]).toMatchObject({ kty: "EC", crv: "P-256", alg: "ES256", kid: first.privateJwk.kid });
    expect(published.keys[0]).not.toHaveProperty("d");

    const second = await ensureDevIssuer(dataDir);
    expect(second.privateJwk).toEqual(first.privateJwk);
  });

  it("two first runs at once end up with one key", async () => {
    const [a, b] = await Promise.all([ensureDevIssuer(dataDir), ensureDevIssuer(dataDir)]);
    expect(a.privateJwk.kid).toBe(b.privateJwk.kid);
    const published = JSON.parse(await readFile(a.jwksFile, "utf8")) as { keys: Array<{ kid: string }> };
    expect(published.keys.map((key) => key.kid)).toEqual([a.privateJwk.kid]);
  });

  it("tightens a private key file that became readable by others", async () => {
    await ensureDevIssuer(dataDir);
    const privateFile = path.join(dataDir, DEV_ISSUER_DIR, "private.jwk.json");
    await chmod(privateFile, 0o644);
    await ensureDevIssuer(dataDir);
    expect((await stat(privateFile)).mode & 0o777).toBe(0o600);
  });
});

describe("mintDevToken", () => {
  it("mints a token that verifies through a static issuer using the jwksFile", async () => {
    const dev = await ensureDevIssuer(dataDir);
    const authenticator = createAuthenticator({
      audience: "gatehouse",
      requiredScopes: ["tools:call"],
      clockSkewSeconds: 60,
      issuers: [{ name: "dev", kind: "static", issuer: dev.issuer, jwksFile: dev.jwksFile, algorithms: ["RS256", "ES256"], agentId: "{sub}" }],
    });
    const token = await mintDevToken({ dataDir, issuer: dev.issuer, audience: "gatehouse", agent: "demo", scopes: ["tools:call", "files:read"], ttlSeconds: 600 });
    const identity = await authenticator.verify(token);
    expect(identity).toMatchObject({ agentId: "demo", issuer: "dev", subject: "demo", scopes: ["tools:call", "files:read"] });
    expect(identity.expiresAt - Math.floor(Date.now() / 1000)).toBeGreaterThan(590);
    expect(identity.claims).toMatchObject({ iss: DEV_ISSUER, aud: "gatehouse" });
    expect(typeof identity.claims.iat).toBe("number");
    expect(typeof identity.claims.nbf).toBe("number");

    const expired = await mintDevToken({ dataDir, audience: "gatehouse", agent: "demo", scopes: ["tools:call"], ttlSeconds: -120 });
    expect((await authError(authenticator.verify(expired))).error).toBe("invalid_token");
    const elsewhere = await mintDevToken({ dataDir, audience: "another", agent: "demo", scopes: ["tools:call"], ttlSeconds: 60 });
    expect((await authError(authenticator.verify(elsewhere))).error).toBe("invalid_token");
  });

  it("creates the key on first use when nothing ran before", async () => {
    const token = await mintDevToken({ dataDir, audience: "gatehouse", agent: "first", ttlSeconds: 60 });
    const dev = await ensureDevIssuer(dataDir);
    const [header] = token.split(".");
    expect(JSON.parse(Buffer.from(header!, "base64url").toString())).toMatchObject({ alg: "ES256", kid: dev.privateJwk.kid });
  });
});
