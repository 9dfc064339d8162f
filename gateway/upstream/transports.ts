/** Which transport a server's config asks for, and what the gateway offers every backend at initialize. */
import { LATEST_MODERN_VERSION, type ClientCapabilities } from "../protocol/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { StdioTransport, stdioLaunch } from "./stdio-transport.ts";
import { StreamableHttpTransport } from "./http-transport.ts";
import { ModernHttpTransport } from "./modern-http-transport.ts";
import { AutoHttpTransport } from "./auto-http-transport.ts";
import { LegacySseTransport } from "./sse-transport.ts";
import { ContainerTransport, type ContainerContext } from "./container/container-transport.ts";
import { UPSTREAM_CLIENT_INFO, type UpstreamTransport } from "./transport.ts";
import type { BackendConfig } from "./types.ts";

/**
 * What the gateway offers a backend: it relays these to whichever client the request belongs to. Roots only
 * where the config says `roots: true`: a shared backend usually treats roots as its own global state
 * (server-filesystem makes them its sandbox), so one agent's roots must not reach it unless the operator knows the
 * server asks per call.
 */
export const CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
};

export function clientCapabilitiesFor(config: BackendConfig): ClientCapabilities {
  return config.roots ? { ...CLIENT_CAPABILITIES, roots: {} } : CLIENT_CAPABILITIES;
}

export function createTransport(config: BackendConfig, configDir: string, containers: ContainerContext | undefined, log: Logger): UpstreamTransport {
  if (config.transport === "stdio") return new StdioTransport(stdioLaunch(config, configDir), log);
  if (config.transport === "http") {
    if (speaksModern(config)) return modernTransport(config, log);
    // auto: a per-session server needs 2025 sessions, so only a shared one is asked which era it speaks.
    if (config.protocol === "auto" && config.scope === "shared") return new AutoHttpTransport(config, log, () => modernTransport(config, log));
    return new StreamableHttpTransport(config, log);
  }
  if (config.transport === "container") {
    if (containers === undefined) throw new Error("container servers need BackendOptions.containers (planContainers)");
    return new ContainerTransport(config, containers, log);
  }
  return new LegacySseTransport(config, log);
}

function speaksModern(config: HttpServerConfig): boolean {
  return config.protocol === LATEST_MODERN_VERSION;
}

function modernTransport(config: HttpServerConfig, log: Logger): ModernHttpTransport {
  // The peer's initialize replaces both; these only go with the first server/discover.
  return new ModernHttpTransport(config, log, { clientInfo: UPSTREAM_CLIENT_INFO, clientCapabilities: clientCapabilitiesFor(config) });
}

export { probeModern } from "./auto-http-transport.ts";
