/**
 * buildRoutingTable: the backends' catalogs → one immutable table of exposed names and URIs, with O(1) lookups.
 * See README.md for the naming and URI rules.
 */
import type { Prompt, Tool } from "../protocol/index.ts";
import { toolFilter } from "./glob.ts";
import { definitionHash } from "./hash.ts";
import { headerParamsOf } from "../protocol/index.ts";
import { exposedName, toolNameProblem, usesPrefix } from "./naming.ts";
import { buildResourceIndex } from "./resources.ts";
import type { PromptRoute, RoutingTable, ServerEntry, TableBuildResult, TableInput, ToolRoute } from "./types.ts";

type Kind = "tool" | "prompt";

/** How to resolve a collision, which depends on whether names already carry a prefix. */
function collisionAdvice(kind: Kind, prefixed: boolean): string {
  const deny = kind === "tool" ? `, or leave the tool out of one server with its tools.deny` : "";
  return prefixed
    ? `give one of the servers an alias, or pick a naming.separator that the names do not contain${deny}`
    : `set naming.prefix to "always" (or "when-needed" with several servers) so that names carry their server's prefix${deny}`;
}

interface Entry {
  server: string;
  originalName: string;
}

function collision(kind: Kind, exposed: string, first: Entry, second: Entry, prefixed: boolean): string {
  return (
    `${kind} name "${exposed}" is exposed by both server "${first.server}" (${kind} "${first.originalName}") ` +
    `and server "${second.server}" (${kind} "${second.originalName}"); ${collisionAdvice(kind, prefixed)}`
  );
}

export function buildRoutingTable(input: TableInput): TableBuildResult {
  const { naming, servers, catalogs, version } = input;
  const prefixed = usesPrefix(naming, servers.length);
  const label = (server: ServerEntry) => server.alias ?? server.name;
  const warnings: string[] = [];
  const errors: string[] = [];

  const tools = new Map<string, ToolRoute>();
  const toolList: Tool[] = [];
  const prompts = new Map<string, PromptRoute>();
  const promptList: Prompt[] = [];

  /** Whether `exposed` is still free; a repeat within one server is a warning, across servers a collision. */
  const claim = (kind: Kind, taken: ReadonlyMap<string, Entry>, exposed: string, server: string, originalName: string): boolean => {
    const existing = taken.get(exposed);
    if (existing === undefined) return true;
    if (existing.server === server) warnings.push(`server "${server}": ${kind} "${originalName}" is listed twice; the first is kept`);
    else errors.push(collision(kind, exposed, existing, { server, originalName }, prefixed));
    return false;
  };

  for (const server of servers) {
    const catalog = catalogs.get(server.name);
    if (catalog === undefined) continue;
    const allowed = toolFilter(server.tools);

    for (const tool of catalog.tools) {
      const originalName: unknown = tool?.name;
      if (typeof originalName !== "string") {
        warnings.push(`server "${server.name}": a tool without a string name was left out`);
        continue;
      }
      if (!allowed(originalName)) continue;
      const exposed = exposedName(label(server), originalName, naming.separator, prefixed);
      const problem = toolNameProblem(exposed);
      if (problem !== undefined) {
        warnings.push(
          `server "${server.name}": tool "${originalName}" left out: its exposed name "${exposed}" breaks the MCP ` +
            `tool-name rules (1-128 characters of A-Z a-z 0-9 _ - .): ${problem}`,
        );
        continue;
      }
      // 2026-07-28: a tool whose x-mcp-header annotations break the rules must not be offered (clients reject it).
      const headers = headerParamsOf(tool.inputSchema);
      if (!headers.ok) {
        warnings.push(`server "${server.name}": tool "${originalName}" left out: its inputSchema has an invalid x-mcp-header: ${headers.reason}`);
        continue;
      }
      if (!claim("tool", tools, exposed, server.name, originalName)) continue;
      const definition = Object.freeze({ ...tool, name: exposed });
      tools.set(exposed, Object.freeze({ server: server.name, originalName, definition, hash: definitionHash(tool), headerParams: headers.params }));
      toolList.push(definition);
    }

    for (const prompt of catalog.prompts) {
      const originalName: unknown = prompt?.name;
      if (typeof originalName !== "string" || originalName === "") {
        warnings.push(`server "${server.name}": a prompt without a name was left out`);
        continue;
      }
      const exposed = exposedName(label(server), originalName, naming.separator, prefixed);
      if (!claim("prompt", prompts, exposed, server.name, originalName)) continue;
      const definition = Object.freeze({ ...prompt, name: exposed });
      prompts.set(exposed, Object.freeze({ server: server.name, originalName, definition }));
      promptList.push(definition);
    }
  }

  if (errors.length > 0) return { ok: false, errors };

  const resources = buildResourceIndex(
    servers.map((server) => ({ name: server.name, label: label(server) })),
    catalogs,
    warnings,
  );

  const table: RoutingTable = Object.freeze({
    version,
    tools: Object.freeze(toolList),
    prompts: Object.freeze(promptList),
    resources: resources.resources,
    resourceTemplates: resources.resourceTemplates,
    tool: (exposed: string) => tools.get(exposed),
    prompt: (exposed: string) => prompts.get(exposed),
    resource: resources.resource,
    exposedUri: resources.exposedUri,
  });
  return { ok: true, table, warnings };
}
