/** The routing stage's public face: build a table from the catalogs, look names and URIs up, page the lists. */
export { buildRoutingTable } from "./table.ts";
export { paginate, encodeCursor } from "./pagination.ts";
export { globMatch, toolFilter } from "./glob.ts";
export { definitionHash } from "./hash.ts";
export { toolNameProblem, isValidToolName, TOOL_NAME_MAX_LENGTH } from "./naming.ts";
export { QUALIFIED_SCHEME, qualify } from "./resources.ts";
export type {
  ServerEntry,
  TableInput,
  ToolRoute,
  PromptRoute,
  ResourceRoute,
  RoutingTable,
  TableBuildResult,
} from "./types.ts";
