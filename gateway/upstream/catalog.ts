/**
 * Fetching a backend's lists in full (following nextCursor) and telling which kinds changed.
 */
import { ErrorCode, JsonRpcError, Method, type CatalogKind, type JsonObject, type ServerCapabilities } from "../protocol/index.ts";
import type { Logger } from "../log.ts";
import type { BackendCatalog } from "./types.ts";

/** A backend that keeps handing out cursors is broken or hostile; stop well before memory becomes the limit. */
export const MAX_PAGES = 1_000;

export const CATALOG_KINDS: readonly CatalogKind[] = ["tools", "prompts", "resources"];

export type ListCall = (method: string, params: JsonObject | undefined) => Promise<JsonObject>;

export function emptyCatalog(): BackendCatalog {
  return { tools: [], prompts: [], resources: [], resourceTemplates: [] };
}

/** The kinds the server declared in its capabilities; the others are not asked for (and stay empty). */
export function declaredKinds(capabilities: ServerCapabilities | undefined): CatalogKind[] {
  return CATALOG_KINDS.filter((kind) => capabilities?.[kind] !== undefined);
}

/** One list, every page. Items without their identifying field are dropped: routing keys on it. */
export async function fetchList(call: ListCall, method: string, key: string, idField: string, log: Logger): Promise<JsonObject[]> {
  const items: JsonObject[] = [];
  const seenCursors = new Set<string>();
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await call(method, cursor === undefined ? undefined : { cursor });
    const list = result[key];
    if (!Array.isArray(list)) throw new JsonRpcError(ErrorCode.InternalError, `${method} answered without a "${key}" array`);
    for (const item of list) {
      if (typeof item === "object" && item !== null && typeof (item as JsonObject)[idField] === "string") items.push(item as JsonObject);
      else log.warn({ method }, `dropped a list item without a string "${idField}"`);
    }
    const next = result.nextCursor;
    if (typeof next !== "string" || next === "") return items;
    if (seenCursors.has(next)) {
      log.warn({ method, cursor: next }, "backend repeated a cursor; stopped paginating");
      return items;
    }
    seenCursors.add(next);
    cursor = next;
  }
  log.warn({ method, pages: MAX_PAGES }, "backend still had pages after the limit; the list is truncated");
  return items;
}

/** Fetches `kinds`; the result holds only their fields, to be merged over the current catalog. */
export async function fetchKinds(call: ListCall, kinds: readonly CatalogKind[], log: Logger): Promise<Partial<BackendCatalog>> {
  const next: Partial<BackendCatalog> = {};
  await Promise.all(
    kinds.map(async (kind) => {
      if (kind === "tools") next.tools = (await fetchList(call, Method.ToolsList, "tools", "name", log)) as BackendCatalog["tools"];
      if (kind === "prompts") next.prompts = (await fetchList(call, Method.PromptsList, "prompts", "name", log)) as BackendCatalog["prompts"];
      if (kind === "resources") {
        const [resources, templates] = await Promise.all([
          fetchList(call, Method.ResourcesList, "resources", "uri", log),
          // Declaring resources does not promise templates; a server without them may answer MethodNotFound.
          fetchList(call, Method.ResourceTemplatesList, "resourceTemplates", "uriTemplate", log).catch((error: unknown) => {
            if (error instanceof JsonRpcError && error.code === ErrorCode.MethodNotFound) return [];
            throw error;
          }),
        ]);
        next.resources = resources as BackendCatalog["resources"];
        next.resourceTemplates = templates as BackendCatalog["resourceTemplates"];
      }
    }),
  );
  return next;
}

/** The kinds whose content differs (deep, key order ignored). */
export function changedKinds(before: BackendCatalog, after: BackendCatalog): CatalogKind[] {
  const changed: CatalogKind[] = [];
  if (!sameJson(before.tools, after.tools)) changed.push("tools");
  if (!sameJson(before.prompts, after.prompts)) changed.push("prompts");
  if (!sameJson(before.resources, after.resources) || !sameJson(before.resourceTemplates, after.resourceTemplates)) {
    changed.push("resources");
  }
  return changed;
}

/** Deep equality for JSON values; objects compare by keys regardless of order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const left = a as JsonObject;
  const right = b as JsonObject;
  const keys = Object.keys(left).filter((key) => left[key] !== undefined);
  if (keys.length !== Object.keys(right).filter((key) => right[key] !== undefined).length) return false;
  for (const key of keys) if (!sameJson(left[key], right[key])) return false;
  return true;
}
