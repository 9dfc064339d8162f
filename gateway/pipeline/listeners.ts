/**
 * `subscriptions/listen` (2026-07-28): the stateless client's replacement for the GET stream and
 * resources/subscribe. Each open listen stream is a session-shaped object whose standalone channel is the
 * stream itself, so list_changed broadcasts and resources/updated deliveries reach it the way they reach a 2025
 * session's GET stream; the channel lets through only what the client opted in to, tagged with its
 * subscription id.
 */
import { META, Method, asObject, type JsonObject, type JsonRpcId, type JsonRpcMessage } from "../protocol/index.ts";
import type { ClientSession, OutboundChannel } from "../session/index.ts";

export interface ListenFilter {
  toolsListChanged?: boolean;
  promptsListChanged?: boolean;
  resourcesListChanged?: boolean;
  resourceSubscriptions?: string[];
}

const FLAG_FOR: Record<string, keyof ListenFilter> = {
  [Method.ToolsListChanged]: "toolsListChanged",
  [Method.PromptsListChanged]: "promptsListChanged",
  [Method.ResourcesListChanged]: "resourcesListChanged",
};

/** Each URI is a backend subscription made before the acknowledgment: bounded per stream. */
const MAX_RESOURCE_SUBSCRIPTIONS = 100;
/** Open listen streams per agent on one replica. */
export const MAX_LISTENERS_PER_PRINCIPAL = 32;

/** The filter as asked, or a reason it is malformed. Unknown fields (an extension's) are not honoured. */
export function parseListenFilter(params: JsonObject | undefined): ListenFilter | string {
  const notifications = asObject(params?.notifications);
  if (notifications === undefined) return "subscriptions/listen needs params.notifications (an object)";
  const filter: ListenFilter = {};
  for (const flag of ["toolsListChanged", "promptsListChanged", "resourcesListChanged"] as const) {
    const value = notifications[flag];
    if (value === undefined) continue;
    if (typeof value !== "boolean") return `notifications.${flag} must be a boolean`;
    if (value) filter[flag] = true;
  }
  const uris = notifications.resourceSubscriptions;
  if (uris !== undefined) {
    if (!Array.isArray(uris) || !uris.every((u) => typeof u === "string")) return "notifications.resourceSubscriptions must be an array of URI strings";
    if (uris.length > MAX_RESOURCE_SUBSCRIPTIONS) return `notifications.resourceSubscriptions lists ${uris.length} URIs; at most ${MAX_RESOURCE_SUBSCRIPTIONS} per stream`;
    if (uris.length > 0) filter.resourceSubscriptions = [...new Set(uris as string[])];
  }
  return filter;
}

/** Lets through what the filter asked for, with the subscription id the spec requires on every notification. */
export function listenChannel(subscriptionId: JsonRpcId, filter: ListenFilter, sink: OutboundChannel): OutboundChannel {
  return {
    send(message: JsonRpcMessage): boolean {
      if (!("method" in message) || "id" in message) return false;
      const flag = FLAG_FOR[message.method];
      // resources/updated only ever reaches a listener subscribed to that URI (ResourceSubscriptions routes it).
      if (flag === undefined ? message.method !== Method.ResourceUpdated : filter[flag] !== true) return false;
      const params = message.params ?? {};
      return sink.send({ ...message, params: { ...params, _meta: { ...asObject(params._meta), [META.subscriptionId]: subscriptionId } } });
    },
    close: () => sink.close(),
  };
}

/** The listen streams open on this replica, by their session-shaped handle's id. */
export class Listeners {
  private readonly open = new Map<string, ClientSession>();
  /** How each stream ends gracefully (the listen request's final result), by session id. */
  private readonly enders = new Map<string, () => void>();

  get size(): number {
    return this.open.size;
  }

  get(id: string): ClientSession | undefined {
    return this.open.get(id);
  }

  /** Whether the agent behind `session` may open one more stream here. */
  admits(session: ClientSession): boolean {
    let mine = 0;
    for (const open of this.open.values()) if (open.principal === session.principal) mine++;
    return mine < MAX_LISTENERS_PER_PRINCIPAL;
  }

  add(session: ClientSession, end?: () => void): void {
    this.open.set(session.id, session);
    if (end !== undefined) this.enders.set(session.id, end);
  }

  delete(session: ClientSession): boolean {
    this.enders.delete(session.id);
    return this.open.delete(session.id);
  }

  /** Shutdown: the spec's graceful end (a final result on each stream) before the streams close. */
  endAll(): void {
    for (const end of this.enders.values()) end();
  }

  all(): IterableIterator<ClientSession> {
    return this.open.values();
  }

  /** To every open stream; each channel drops the kinds its client did not ask for. */
  broadcast(message: JsonRpcMessage): void {
    for (const session of this.open.values()) session.sendLocal(message);
  }

  closeAll(): void {
    for (const session of [...this.open.values()]) session.close();
    this.open.clear();
    this.enders.clear();
  }
}
