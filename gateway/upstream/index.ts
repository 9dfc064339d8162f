/** Public surface of the upstream stage: one supervised connection per backend server. */
import type { ServerConfig } from "../config/schema.ts";
import { SupervisedBackend, type BackendOptions } from "./backend.ts";
import type { Backend, BackendHooks } from "./types.ts";

export type { Backend, BackendCatalog, BackendHooks, BackendState, CallOptions, CallOwner } from "./types.ts";
export type { BackendOptions } from "./backend.ts";
export type { BackoffOptions } from "./backoff.ts";
export { CLIENT_CAPABILITIES, IDENTITY_META_KEY } from "./backend.ts";

export function createBackend(config: ServerConfig, hooks: BackendHooks, options: BackendOptions): Backend {
  return new SupervisedBackend(config, hooks, options);
}
