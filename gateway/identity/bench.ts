/**
 * Micro-benchmark for `npm run bench`: verify() of a fresh token (parse, ES256 signature check, claims, agentId)
 * against a cached one (sha256 of the token and a Map lookup). In-process, a local jwksFile issuer, no network.
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createAuthenticator } from "./authenticator.ts";

export interface VerifyBenchResult {
  /** p50 of verify() on a token never seen before, in microseconds. */
  coldMicros: number;
  /** p50 of verify() on a token already verified (cache hit), in microseconds. */
  cachedMicros: number;
}

export async function benchVerify(options: { coldSamples?: number; cachedSamples?: number } = {}): Promise<VerifyBenchResult> {
  const coldSamples = options.coldSamples ?? 1_000;
  const cachedSamples = options.cachedSamples ?? 5_000;
  const dir = await mkdtemp(path.join(tmpdir(), "gatehouse-bench-identity-"));
  try {
    // A throwaway key written straight to a jwksFile (the key store would log its creation into the bench table).
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const key = { kid: "bench", privateKey, jwksFile: path.join(dir, "jwks.json") };
    await writeFile(key.jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: key.kid, alg: "ES256" }] }));
    const audience = "https://bench.gatehouse/mcp";
    const authenticator = createAuthenticator(
      {
        audience,
        requiredScopes: ["tools:call"],
        clockSkewSeconds: 60,
        issuers: [{ name: "bench", kind: "static", issuer: "gatehouse-bench", jwksFile: key.jwksFile, algorithms: ["ES256"], agentId: "{sub}" }],
      },
      { cacheEntries: coldSamples + 16 },
    );
    const now = Math.floor(Date.now() / 1000);
    const mint = () =>
      new SignJWT({ scope: "tools:call tools:list" })
        .setProtectedHeader({ alg: "ES256", kid: key.kid })
        .setIssuer("gatehouse-bench")
        .setSubject("bench-agent")
        .setAudience(audience)
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .setJti(randomUUID()) // distinct tokens, so that each cold sample really misses the cache
        .sign(key.privateKey);

    // Warm-up: load the key set, import the key, let the JIT settle; none of this is measured.
    for (let i = 0; i < 200; i++) await authenticator.verify(await mint());

    const tokens = await Promise.all(Array.from({ length: coldSamples }, mint));
    const cold: number[] = [];
    for (const token of tokens) {
      const started = performance.now();
      await authenticator.verify(token);
      cold.push(performance.now() - started);
    }

    const cachedToken = tokens[0]!;
    const cached: number[] = [];
    for (let i = 0; i < cachedSamples; i++) {
      const started = performance.now();
      await authenticator.verify(cachedToken);
      cached.push(performance.now() - started);
    }
    const stats = authenticator.stats();
    if (stats.verifications !== 200 + coldSamples) throw new Error("bench: cold samples hit the cache; the measurement would be wrong");
    return { coldMicros: median(cold) * 1000, cachedMicros: median(cached) * 1000 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function median(samples: number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
