/** Gatehouse's public face for embedding and tests. */
export { Gateway, GatewayConfigError, type GatewayOptions } from "./gateway.ts";
export { loadConfigFile, loadDefaultConfig, parseConfigText, type ResolvedConfig } from "./config/index.ts";
export { configureLogging, logger } from "./log.ts";
