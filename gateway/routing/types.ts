/**
 * The routing table: what clients see, and which server owns each name. Built from the backends' catalogs,
 * immutable once built, and swapped whole (one reference assignment) on list_changed or reload.
 */
import type { HeaderParam, Tool, Prompt, Resource, ResourceTemplate } from "../protocol/index.ts";
import type { NamingConfig } from "../config/schema.ts";
import type { BackendCatalog } from "../upstream/types.ts";

export interface ServerEntry {
  name: string;
  alias?: string | undefined;
  tools?: { allow?: string[] | undefined; deny?: string[] | undefined } | undefined;
}

export interface TableInput {
  naming: NamingConfig;
  /** In config order; the order of every merged list follows it. */
  servers: ServerEntry[];
  /** Catalog per server name; a server without a catalog (never came up) contributes nothing. */
  catalogs: ReadonlyMap<string, BackendCatalog>;
  /** Monotonic; carried in pagination cursors. */
  version: number;
}

export interface ToolRoute {
  server: string;
  originalName: string;
  /** The definition as clients see it: `name` is the exposed name. */
  definition: Tool;
  /** sha256 (hex) of the canonical JSON of the backend's original definition; changes when the tool changes. */
  hash: string;
  /** The tool's x-mcp-header annotations (2026-07-28 `Mcp-Param-*`), checked valid when the table was built. */
  headerParams: readonly HeaderParam[];
}

export interface PromptRoute {
  server: string;
  originalName: string;
  definition: Prompt;
}

export interface ResourceRoute {
  server: string;
  originalUri: string;
}

export interface RoutingTable {
  readonly version: number;
  readonly tools: readonly Tool[];
  readonly prompts: readonly Prompt[];
  readonly resources: readonly Resource[];
  readonly resourceTemplates: readonly ResourceTemplate[];

  tool(exposedName: string): ToolRoute | undefined;
  prompt(exposedName: string): PromptRoute | undefined;
  /** Exact listed URI, the gateway's qualified form, or a unique template match; undefined when no server owns it. */
  resource(exposedUri: string): ResourceRoute | undefined;
  /** Inverse of `resource`, for resources/updated notifications: the URI this server's resource has for clients. */
  exposedUri(server: string, originalUri: string): string;
}

/** `warnings`: tools or prompts left out (e.g. an exposed name that breaks the spec's name rules). */
export type TableBuildResult =
  | { ok: true; table: RoutingTable; warnings: string[] }
  | { ok: false; errors: string[] };
