/**
 * The subscriptions/listen stream of a 2026-07-28 backend (modern-http-transport.ts): what replaced the GET stream
 * and resources/subscribe. One POST whose SSE answer stays open and carries the list_changed and resources/updated
 * notifications the filter asked for, after an acknowledgment.
 */
import { META, Method, asObject, classify, notification, type JsonObject, type JsonRpcNotification, type JsonRpcRequest } from "../protocol/index.ts";
import type { Logger } from "../log.ts";
import { Backoff } from "./backoff.ts";
import { bodySnippet, discard, mediaType, networkClosed, pause, readEventStream, type HttpResponse } from "./http-common.ts";
import type { HttpTarget } from "./modern-rounds.ts";
import type { TransportClosed } from "./transport.ts";

/** The stream gives up after this many refusals in a row (an HTTP error instead of a stream). */
const MAX_REFUSALS = 5;
const ACKNOWLEDGED = "notifications/subscriptions/acknowledged";
/** What a listen stream may carry up; anything else there breaks the spec and is dropped. */
const RELAYED = new Set<string>([Method.ToolsListChanged, Method.PromptsListChanged, Method.ResourcesListChanged, Method.ResourceUpdated]);

export interface ListenHost {
  http: HttpTarget;
  log: Logger;
  /** Aborts every stream for good (the transport closed). */
  lifetime: AbortSignal;
  /** The current filter; undefined when there is nothing to listen for. */
  filter(): JsonObject | undefined;
  request(id: string, filter: JsonObject): JsonRpcRequest;
  headers(message: JsonRpcRequest): Record<string, string>;
  deliver(message: JsonRpcNotification): void;
  /** The server could not be reached at all: the transport is gone. */
  lost(closed: TransportClosed): void;
}

export class ListenStream {
  private readonly host: ListenHost;
  private current: AbortController | undefined;
  private acknowledged: Promise<void> = Promise.resolve();
  private counter = 0;

  constructor(host: ListenHost) {
    this.host = host;
  }

  /**
   * (Re)opens the stream with the current filter. The stream it replaces stays open until the new one is
   * acknowledged, so no notification falls into the gap. Resolves once acknowledged, or once it gave up.
   */
  open(): Promise<void> {
    const previous = this.current;
    if (this.host.filter() === undefined) {
      previous?.abort();
      this.current = undefined;
      return Promise.resolve();
    }
    const controller = new AbortController();
    const acked = Promise.withResolvers<void>();
    this.current = controller;
    this.acknowledged = acked.promise;
    void this.run(controller, previous, acked.resolve);
    return acked.promise;
  }

  private async run(controller: AbortController, previous: AbortController | undefined, acked: () => void): Promise<void> {
    const signal = AbortSignal.any([this.host.lifetime, controller.signal]);
    // A stream that stays up 10 s was healthy: the next drop reconnects quickly again, a flapping one backs off.
    const backoff = new Backoff({ baseMs: 250, capMs: 30_000, stableAfterMs: 10_000 });
    let refusals = 0;
    let reconnecting = false;
    try {
      while (!signal.aborted) {
        const filter = this.host.filter();
        if (filter === undefined) return;
        const outcome = await this.once(filter, signal, (agreed) => {
          previous?.abort();
          previous = undefined;
          refusals = 0;
          backoff.connected();
          acked();
          // Changes made while the stream was down were never announced: have the peer refetch.
          if (reconnecting) this.announceMissed(agreed);
        });
        if (signal.aborted) return;
        if (outcome.closed !== undefined) return this.host.lost(outcome.closed);
        if (outcome.refused !== undefined && ++refusals >= MAX_REFUSALS) {
          this.host.log.warn({ reason: outcome.refused }, "backend keeps refusing subscriptions/listen; giving up on change notifications");
          return;
        }
        reconnecting = true;
        await pause(backoff.next(), signal);
      }
    } finally {
      previous?.abort();
      // A stream replaced before its acknowledgment resolves with its successor's.
      if (this.current !== undefined && this.current !== controller) void this.acknowledged.then(acked);
      else acked();
    }
  }

  /** One listen POST, read to its end. `closed`: the server could not be reached; `refused`: no stream offered. */
  private async once(filter: JsonObject, signal: AbortSignal, onAck: (agreed: JsonObject) => void): Promise<{ closed?: TransportClosed; refused?: string }> {
    const message = this.host.request(`listen-${++this.counter}`, filter);
    let response: HttpResponse;
    try {
      const { pool, path } = this.host.http;
      response = await pool.request({ method: "POST", path, headers: this.host.headers(message), body: JSON.stringify(message), signal });
    } catch (error) {
      return signal.aborted ? {} : { closed: networkClosed(error) };
    }
    if (response.statusCode !== 200 || mediaType(response) !== "text/event-stream") {
      const refused = `HTTP ${response.statusCode}: ${await bodySnippet(response)}`;
      this.host.log.debug({ refused }, "subscriptions/listen refused");
      return { refused };
    }
    try {
      await readEventStream(response.body, (event) => {
        if (event.data === "" || (event.event !== undefined && event.event !== "message")) return;
        let value: unknown;
        try {
          value = JSON.parse(event.data);
        } catch {
          return;
        }
        const classified = classify(value);
        if (classified.kind !== "notification") return;
        const note = classified.message;
        if (note.method === ACKNOWLEDGED) onAck(asObject(note.params?.notifications) ?? {});
        else if (RELAYED.has(note.method)) this.host.deliver(withoutSubscriptionId(note));
      });
    } catch {
      // A broken stream is reconnected like an ended one.
    } finally {
      if (!response.body.destroyed) discard(response);
    }
    return {};
  }

  private announceMissed(agreed: JsonObject): void {
    if (agreed.toolsListChanged === true) this.host.deliver(notification(Method.ToolsListChanged));
    if (agreed.promptsListChanged === true) this.host.deliver(notification(Method.PromptsListChanged));
    if (agreed.resourcesListChanged === true) this.host.deliver(notification(Method.ResourcesListChanged));
    const uris = Array.isArray(agreed.resourceSubscriptions) ? agreed.resourceSubscriptions : [];
    for (const uri of uris) if (typeof uri === "string") this.host.deliver(notification(Method.ResourceUpdated, { uri }));
  }
}

/** The subscription id only demultiplexes listen streams; 2025 clients know no such key. */
function withoutSubscriptionId(message: JsonRpcNotification): JsonRpcNotification {
  const meta = asObject(message.params?._meta);
  if (meta === undefined || !(META.subscriptionId in meta)) return message;
  const { [META.subscriptionId]: _dropped, ...rest } = meta;
  const params: JsonObject = { ...message.params };
  if (Object.keys(rest).length > 0) params._meta = rest;
  else delete params._meta;
  return notification(message.method, params);
}
