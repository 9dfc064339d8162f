/**
 * Resource URIs: what clients see, and which server owns a URI a client sends back.
 *
 * A listed URI is exposed unchanged, unless two or more servers list it: then each server's copy is exposed
 * qualified as `gatehouse://{alias ?? name}/{originalUri}` (raw, not percent-encoded). Identical `uriTemplate`
 * strings across servers are qualified the same way. The qualified form is accepted for any configured server.
 *
 * Lookup order: exact listed URI → qualified form → the one server whose templates match → the one server whose
 * listed resources or templates share the URI's scheme and authority → nobody.
 */
import { UriTemplate } from "@modelcontextprotocol/sdk/shared/uriTemplate.js";
import type { Resource, ResourceTemplate } from "../protocol/index.ts";
import type { BackendCatalog } from "../upstream/types.ts";
import type { ResourceRoute } from "./types.ts";

export const QUALIFIED_SCHEME = "gatehouse://";
/** Template matching builds a regular expression per template; longer URIs only get the exact and prefix rules. */
const MAX_TEMPLATE_MATCH_LENGTH = 16 * 1024;

export interface ResourceServer {
  name: string;
  /** alias ?? name: the segment of qualified URIs. */
  label: string;
}

export interface ResourceIndex {
  resources: readonly Resource[];
  resourceTemplates: readonly ResourceTemplate[];
  resource(exposedUri: string): ResourceRoute | undefined;
  exposedUri(server: string, originalUri: string): string;
}

export function qualify(label: string, originalUri: string): string {
  return `${QUALIFIED_SCHEME}${label}/${originalUri}`;
}

/** "scheme://authority" or "scheme:" (lowercased scheme), or undefined when it has none or holds a template. */
export function schemeAndAuthority(uri: string): string | undefined {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):(\/\/([^/?#]*))?/.exec(uri);
  if (match === null) return undefined;
  const key = `${(match[1] as string).toLowerCase()}:${match[2] ?? ""}`;
  return key.includes("{") ? undefined : key;
}

/** Counts in how many distinct servers each key occurs. */
function countServers(perServer: ReadonlyArray<{ server: string; keys: Iterable<string> }>): Map<string, Set<string>> {
  const owners = new Map<string, Set<string>>();
  for (const { server, keys } of perServer) {
    for (const key of keys) {
      let set = owners.get(key);
      if (set === undefined) owners.set(key, (set = new Set()));
      set.add(server);
    }
  }
  return owners;
}

function freezeRoute(server: string, originalUri: string): ResourceRoute {
  return Object.freeze({ server, originalUri });
}

export function buildResourceIndex(
  servers: readonly ResourceServer[],
  catalogs: ReadonlyMap<string, BackendCatalog>,
  warnings: string[],
): ResourceIndex {
  const byLabel = new Map<string, string>();
  for (const { name, label } of servers) byLabel.set(label, name);
  // Names are accepted too, unless one is some other server's label.
  for (const { name } of servers) if (!byLabel.has(name)) byLabel.set(name, name);
  const labelOf = new Map(servers.map(({ name, label }) => [name, label]));

  const present = servers.flatMap(({ name, label }) => {
    const catalog = catalogs.get(name);
    return catalog === undefined ? [] : [{ name, label, catalog }];
  });

  // Each server's own lists, duplicates within one server dropped.
  const listed = present.map(({ name, label, catalog }) => {
    const resources = new Map<string, Resource>();
    for (const resource of catalog.resources) {
      if (typeof resource?.uri !== "string") {
        warnings.push(`server "${name}": a resource without a string uri was left out`);
      } else if (resources.has(resource.uri)) {
        warnings.push(`server "${name}": resource "${resource.uri}" is listed twice; the first is kept`);
      } else {
        resources.set(resource.uri, resource);
      }
    }
    const templates = new Map<string, ResourceTemplate>();
    for (const template of catalog.resourceTemplates) {
      if (typeof template?.uriTemplate !== "string") {
        warnings.push(`server "${name}": a resource template without a string uriTemplate was left out`);
      } else if (!templates.has(template.uriTemplate)) {
        templates.set(template.uriTemplate, template);
      }
    }
    return { name, label, resources, templates };
  });

  const uriOwners = countServers(listed.map(({ name, resources }) => ({ server: name, keys: resources.keys() })));
  const templateOwners = countServers(listed.map(({ name, templates }) => ({ server: name, keys: templates.keys() })));
  const ambiguous = new Set([...uriOwners].filter(([, owners]) => owners.size > 1).map(([uri]) => uri));

  const exposedResources: Resource[] = [];
  const exposedTemplates: ResourceTemplate[] = [];
  const exact = new Map<string, ResourceRoute>();
  const matchers: Array<{ server: string; template: UriTemplate }> = [];
  const prefixOwners = new Map<string, Set<string>>();
  const ownPrefix = (server: string, uri: string) => {
    const key = schemeAndAuthority(uri);
    if (key === undefined) return;
    let set = prefixOwners.get(key);
    if (set === undefined) prefixOwners.set(key, (set = new Set()));
    set.add(server);
  };

  for (const { name, label, resources, templates } of listed) {
    for (const [uri, resource] of resources) {
      ownPrefix(name, uri);
      if (ambiguous.has(uri)) {
        exposedResources.push(Object.freeze({ ...resource, uri: qualify(label, uri) }));
      } else {
        exact.set(uri, freezeRoute(name, uri));
        exposedResources.push(Object.freeze({ ...resource }));
      }
    }
    for (const [uriTemplate, template] of templates) {
      ownPrefix(name, uriTemplate);
      const shared = (templateOwners.get(uriTemplate)?.size ?? 0) > 1;
      exposedTemplates.push(Object.freeze(shared ? { ...template, uriTemplate: qualify(label, uriTemplate) } : { ...template }));
      try {
        matchers.push({ server: name, template: new UriTemplate(uriTemplate) });
      } catch (error) {
        warnings.push(
          `server "${name}": resource template "${uriTemplate}" is listed but not used for routing: ${(error as Error).message}`,
        );
      }
    }
  }

  const fromQualified = (uri: string): ResourceRoute | undefined => {
    if (!uri.startsWith(QUALIFIED_SCHEME)) return undefined;
    const slash = uri.indexOf("/", QUALIFIED_SCHEME.length);
    if (slash === -1) return undefined;
    const server = byLabel.get(uri.slice(QUALIFIED_SCHEME.length, slash));
    const originalUri = uri.slice(slash + 1);
    return server === undefined || originalUri === "" ? undefined : freezeRoute(server, originalUri);
  };

  const fromTemplates = (uri: string): ResourceRoute | undefined => {
    if (uri.length > MAX_TEMPLATE_MATCH_LENGTH) return undefined;
    let owner: string | undefined;
    for (const { server, template } of matchers) {
      if (server === owner) continue;
      let matched = false;
      try {
        matched = template.match(uri) !== null;
      } catch {
        matched = false;
      }
      if (!matched) continue;
      if (owner !== undefined) return undefined;
      owner = server;
    }
    return owner === undefined ? undefined : freezeRoute(owner, uri);
  };

  const fromPrefix = (uri: string): ResourceRoute | undefined => {
    const key = schemeAndAuthority(uri);
    const owners = key === undefined ? undefined : prefixOwners.get(key);
    if (owners === undefined || owners.size !== 1) return undefined;
    const [owner] = owners;
    return owner === undefined ? undefined : freezeRoute(owner, uri);
  };

  const resource = (uri: string): ResourceRoute | undefined =>
    exact.get(uri) ?? fromQualified(uri) ?? fromTemplates(uri) ?? fromPrefix(uri);

  const exposedUri = (server: string, originalUri: string): string => {
    const label = labelOf.get(server);
    if (label === undefined) return originalUri;
    if (ambiguous.has(originalUri)) return qualify(label, originalUri);
    const route = resource(originalUri);
    return route !== undefined && route.server === server && route.originalUri === originalUri
      ? originalUri
      : qualify(label, originalUri);
  };

  return {
    resources: Object.freeze(exposedResources),
    resourceTemplates: Object.freeze(exposedTemplates),
    resource,
    exposedUri,
  };
}
