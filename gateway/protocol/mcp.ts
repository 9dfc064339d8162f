/**
 * MCP shapes the gateway handles. Types come from the SDK (type-only: nothing of the SDK runs on the hot path);
 * the method names live here so that every stage spells them one way.
 */
export type {
  Tool,
  Prompt,
  Resource,
  ResourceTemplate,
  ServerCapabilities,
  ClientCapabilities,
  Implementation,
} from "@modelcontextprotocol/sdk/types.js";

export const Method = {
  Initialize: "initialize",
  Initialized: "notifications/initialized",
  Ping: "ping",
  ToolsList: "tools/list",
  ToolsCall: "tools/call",
  ResourcesList: "resources/list",
  ResourceTemplatesList: "resources/templates/list",
  ResourcesRead: "resources/read",
  ResourcesSubscribe: "resources/subscribe",
  ResourcesUnsubscribe: "resources/unsubscribe",
  PromptsList: "prompts/list",
  PromptsGet: "prompts/get",
  CompletionComplete: "completion/complete",
  LoggingSetLevel: "logging/setLevel",
  Progress: "notifications/progress",
  Cancelled: "notifications/cancelled",
  Message: "notifications/message",
  ResourceUpdated: "notifications/resources/updated",
  ToolsListChanged: "notifications/tools/list_changed",
  PromptsListChanged: "notifications/prompts/list_changed",
  ResourcesListChanged: "notifications/resources/list_changed",
  RootsListChanged: "notifications/roots/list_changed",
  SamplingCreateMessage: "sampling/createMessage",
  ElicitationCreate: "elicitation/create",
  RootsList: "roots/list",
} as const;

export type CatalogKind = "tools" | "prompts" | "resources";

export const LIST_CHANGED_BY_KIND: Record<CatalogKind, string> = {
  tools: Method.ToolsListChanged,
  prompts: Method.PromptsListChanged,
  resources: Method.ResourcesListChanged,
};

/** RFC 5424 levels, as MCP's logging/setLevel names them, least severe first. */
export const LOG_LEVELS = ["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
