/** Builders shared by the routing tests. */
import type { Prompt, Resource, ResourceTemplate, Tool } from "../protocol/index.ts";
import type { NamingConfig } from "../config/schema.ts";
import type { BackendCatalog } from "../upstream/types.ts";
import { buildRoutingTable } from "./table.ts";
import type { RoutingTable, ServerEntry, TableBuildResult } from "./types.ts";

export function tool(name: string, extra: Partial<Tool> = {}): Tool {
  return { name, inputSchema: { type: "object" }, ...extra };
}

export function catalog(parts: {
  tools?: Array<string | Tool>;
  prompts?: string[];
  resources?: string[];
  templates?: string[];
}): BackendCatalog {
  return {
    tools: (parts.tools ?? []).map((entry) => (typeof entry === "string" ? tool(entry) : entry)),
    prompts: (parts.prompts ?? []).map((name): Prompt => ({ name })),
    resources: (parts.resources ?? []).map((uri): Resource => ({ uri, name: uri })),
    resourceTemplates: (parts.templates ?? []).map((uriTemplate): ResourceTemplate => ({ uriTemplate, name: uriTemplate })),
  };
}

export interface Setup {
  naming?: Partial<NamingConfig>;
  servers: Array<ServerEntry & { catalog?: BackendCatalog }>;
  version?: number;
}

export function build(setup: Setup): TableBuildResult {
  return buildRoutingTable({
    naming: { separator: "__", prefix: "when-needed", ...setup.naming },
    servers: setup.servers.map(({ catalog: _catalog, ...entry }) => entry),
    catalogs: new Map(
      setup.servers.flatMap((server) => (server.catalog === undefined ? [] : [[server.name, server.catalog] as const])),
    ),
    version: setup.version ?? 1,
  });
}

export function table(setup: Setup): RoutingTable {
  const result = build(setup);
  if (!result.ok) throw new Error(`expected a table, got errors:\n${result.errors.join("\n")}`);
  return result.table;
}
