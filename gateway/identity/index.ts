/** The identity stage's public face: everything other folders may use. See README.md. */
export { createAuthenticator, IdentityConfigError } from "./authenticator.ts";
export { validateIdentityConfig, type IdentityConfigProblem } from "./issuers.ts";
export { ensureDevIssuer, mintDevToken, DEV_ISSUER, DEV_ISSUER_DIR, type DevIssuer, type DevTokenRequest } from "./dev-issuer.ts";
export {
  loadOrCreateGatewayKey,
  mintAssertion,
  publicJwks,
  GATEWAY_KEY_DIR,
  MAX_ASSERTION_TTL_SECONDS,
  type AssertionRequest,
  type GatewayKey,
} from "./assertions.ts";
export { benchVerify, type VerifyBenchResult } from "./bench.ts";
export {
  AuthError,
  FAILURE_REASONS,
  type AgentIdentity,
  type Authenticator,
  type AuthenticatorOptions,
  type AuthenticatorStats,
  type AuthErrorCode,
  type FailureReason,
  type IdentityConfig,
  type IssuerConfig,
  type IssuerLoadResult,
  type KubernetesIssuerConfig,
  type OidcIssuerConfig,
  type SpiffeIssuerConfig,
  type StaticIssuerConfig,
} from "./types.ts";
