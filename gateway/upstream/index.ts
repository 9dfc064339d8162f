/** Public surface of the upstream stage: one supervised connection per backend server. */
import { SupervisedBackend, type BackendOptions } from "./backend.ts";
import { PerSessionBackend, type UpstreamSessionStore } from "./per-session.ts";
import type { Backend, BackendConfig, BackendHooks } from "./types.ts";

export type { Backend, BackendConfig, BackendCatalog, BackendHooks, BackendState, CallOptions, CallOwner } from "./types.ts";
export type { BackendOptions } from "./backend.ts";
export type { BackoffOptions } from "./backoff.ts";
export type { UpstreamSessionStore } from "./per-session.ts";
export type { UpstreamSession } from "./transport.ts";
export { IDENTITY_META_KEY } from "./backend.ts";
export { CLIENT_CAPABILITIES } from "./transports.ts";

export function createBackend(config: BackendConfig, hooks: BackendHooks, options: BackendOptions & { upstreamSessions?: UpstreamSessionStore }): Backend {
  if (config.transport === "container" && config.scope === "per-session") return new PerSessionBackend(config, hooks, options);
  if (config.transport === "http" && config.scope === "per-session") return new PerSessionBackend({ ...config, transport: "http" }, hooks, options);
  return new SupervisedBackend(config, hooks, options);
}
export { planContainers, removeOrphans, listManaged, findRuntime, ownerId, LABEL as CONTAINER_LABEL } from "./container/index.ts";
export type { ContainerContext, ContainerPlan, ContainerRuntime, ManagedContainer } from "./container/index.ts";
