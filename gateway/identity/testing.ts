/**
 * Test helpers for identity: a real loopback HTTP server for JWKS, discovery documents and SPIFFE bundles, and
 * keys to sign with. Used only by the tests beside this file.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from "jose";
import { AuthError } from "./types.ts";

/** What a route answers: a JSON body, or "hang" (accept the request and never answer). */
export type RouteAnswer = unknown | "hang";

export interface KeyServer {
  /** http://127.0.0.1:PORT, no trailing slash. */
  url: string;
  route(path: string, answer: RouteAnswer): void;
  /** How many requests reached this path. */
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startKeyServer(): Promise<KeyServer> {
  const routes = new Map<string, RouteAnswer>();
  const hits = new Map<string, number>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const path = new URL(request.url ?? "/", "http://localhost").pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const answer = routes.get(path);
    if (answer === "hang") return; // the socket stays open until close()
    if (answer === undefined) {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    route: (path, answer) => void routes.set(path, answer),
    hits: (path) => hits.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  /** The public JWK with kid and alg, ready for a JWKS. */
  publicJwk: JWK;
}

export async function testKey(alg: "RS256" | "ES256" | "PS256" | "ES384", kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg };
  return { kid, alg, privateKey, publicKey, publicJwk };
}

export function jwks(...keys: TestKey[]): { keys: JWK[] } {
  return { keys: keys.map((key) => key.publicJwk) };
}

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Signs `claims` as they are (no defaults added), with the key's alg and kid unless the header overrides them. */
export function sign(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, ...header }).sign(key.privateKey);
}

/** The AuthError a promise rejects with; fails the test if it resolves or rejects with something else. */
export async function authError(promise: Promise<unknown>): Promise<AuthError> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (reason: unknown) => ({ rejected: reason }),
  );
  if ("resolved" in outcome) throw new Error(`expected an AuthError, but verify resolved: ${JSON.stringify(outcome.resolved)}`);
  if (!(outcome.rejected instanceof AuthError)) throw outcome.rejected;
  return outcome.rejected;
}

/** A clock tests can move: epoch milliseconds, starting at real time. */
export function manualClock(): { now: () => number; advance: (ms: number) => void } {
  let current = Date.now();
  return { now: () => current, advance: (ms) => void (current += ms) };
}

/** Polls until `condition` holds; throws after `timeoutMs` so no test waits unbounded. */
export async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
