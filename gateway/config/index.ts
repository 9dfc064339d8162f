/** The config stage's public face: the schema's types, and loading a file into a validated ResolvedConfig. */
export { configSchema, serverSchema } from "./schema.ts";
export type { GatewayConfig, ServerConfig, StdioServerConfig, HttpServerConfig, ContainerServerConfig, ContainerSettings, NamingConfig } from "./schema.ts";
export {
  parseConfigText,
  loadConfigFile,
  loadConfig,
  loadDefaultConfig,
  DEFAULT_CONFIG_PATH,
  EMBEDDED_DEFAULT_NAME,
} from "./load.ts";
export type {
  ConfigResult,
  ParseOptions,
  ResolvedConfig,
  ResolvedServerConfig,
  ResolvedStdioServerConfig,
  ResolvedContainerServerConfig,
} from "./load.ts";
export { interpolateString, formatPath } from "./interpolate.ts";
