/**
 * Builds the identity side of a Gateway from its config: the authenticator for agents' tokens, the dev issuer
 * on first run, the gateway's own signing key for backend assertions, and the RFC 9728 metadata.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import type { ResolvedConfig } from "./config/index.ts";
import type { IdentitySettings, IssuerSettings } from "./config/schema.ts";
import { logger } from "./log.ts";

const log = logger("identity-setup");
import {
  createAuthenticator,
  ensureDevIssuer,
  IdentityConfigError,
  loadOrCreateGatewayKey,
  mintAssertion,
  publicJwks,
  DEV_ISSUER_DIR,
  type AgentIdentity,
  type Authenticator,
  type GatewayKey,
  type IdentityConfig,
} from "./identity/index.ts";
import { GATEWAY_INFO } from "./pipeline/index.ts";

export interface GatewayIdentity {
  /** undefined only under --insecure-no-auth. */
  authenticator: Authenticator | undefined;
  protectedResource(): Record<string, unknown> | undefined;
  publicJwks(): Promise<Record<string, unknown>>;
  assertion(agent: AgentIdentity, server: string): Promise<string>;
  /** The gateway's own ES256 key: it signs backend assertions and audit checkpoints. */
  key: GatewayKey;
}

const NO_IDENTITY =
  "identity: no token issuers are configured, so no agent could be verified; configure identity.issuers, " +
  "or run `gatehouse serve --insecure-no-auth` on a loopback address for development";

export async function createIdentity(config: ResolvedConfig, insecureNoAuth: boolean): Promise<GatewayIdentity | { problems: string[] }> {
  if (config.identity === undefined && !insecureNoAuth) return { problems: [NO_IDENTITY] };
  const key = await loadOrCreateGatewayKey(config.dataDir);
  const gatewayId = `gatehouse:${config.identity?.audience ?? "insecure"}`;
  let authenticator: Authenticator | undefined;
  if (!insecureNoAuth && config.identity !== undefined) {
    const resolved = resolveIssuerPaths(config.identity, config.configDir);
    const dev = devIssuerOf(config);
    if (dev !== undefined && !existsSync(dev.jwksFile)) await ensureDevIssuer(config.dataDir);
    try {
      authenticator = createAuthenticator(resolved as IdentityConfig);
    } catch (error) {
      if (error instanceof IdentityConfigError) return { problems: [`identity: ${error.message}`] };
      throw error;
    }
    // Load every issuer's keys now, so an unreachable JWKS shows at start rather than on the first request.
    for (const result of await authenticator.warmUp()) {
      if (!result.ok) log.warn({ issuer: result.issuer, err: result.error }, "issuer keys could not be loaded yet; retried on demand");
    }
  }
  const identity = config.identity;
  return {
    authenticator,
    protectedResource: () =>
      identity === undefined
        ? undefined
        : {
            resource: identity.audience,
            authorization_servers: identity.issuers.flatMap((i) => ("issuer" in i && /^https?:\/\//.test(i.issuer) ? [i.issuer] : [])),
            bearer_methods_supported: ["header"],
            scopes_supported: identity.requiredScopes,
            resource_name: GATEWAY_INFO.title,
          },
    publicJwks: async () => (await publicJwks(key)) as unknown as Record<string, unknown>,
    assertion: (agent, server) => mintAssertion({ key, gatewayId, identity: agent, audience: server, ttlSeconds: 60 }),
    key,
  };
}

/**
 * The config's dev issuer: the static issuer whose jwksFile is <dataDir>/dev-issuer/jwks.json, whose key the
 * gateway creates on first run and `gatehouse token mint` signs with.
 */
export function devIssuerOf(config: ResolvedConfig): { issuer: string; audience: string; jwksFile: string } | undefined {
  if (config.identity === undefined) return undefined;
  const jwksFile = path.join(config.dataDir, DEV_ISSUER_DIR, "jwks.json");
  const issuer = resolveIssuerPaths(config.identity, config.configDir).issuers.find((i) => i.kind === "static" && i.jwksFile === jwksFile);
  return issuer?.kind === "static" ? { issuer: issuer.issuer, audience: config.identity.audience, jwksFile } : undefined;
}

/** File paths in issuers are relative to the config file, like every other path in it. */
export function resolveIssuerPaths(identity: IdentitySettings, configDir: string): IdentitySettings {
  const resolve = (file: string | undefined) => (file === undefined ? undefined : path.resolve(configDir, file));
  const issuers = identity.issuers.map((issuer): IssuerSettings =>
    issuer.kind === "spiffe" ? { ...issuer, bundleFile: resolve(issuer.bundleFile) } : { ...issuer, jwksFile: resolve(issuer.jwksFile) },
  );
  return { ...identity, issuers };
}
