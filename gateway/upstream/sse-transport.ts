/**
 * The legacy HTTP+SSE transport (MCP 2024-11-05): one long GET stream carries everything the server sends; its
 * first `endpoint` event names the URL to POST our messages to, and those POSTs answer 202 with no body.
 * Nothing relates a message to a request here, so server requests fall back to "all owners in flight".
 */
import { request } from "undici";
import type { JsonRpcMessage } from "../protocol/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import {
  bodySnippet,
  buildHeaders,
  closeAgent,
  createAgent,
  discard,
  isAbortError,
  mediaType,
  networkClosed,
  readEventStream,
  type HttpResponse,
} from "./http-common.ts";
import { HttpStatusError, TransportClosedError, noop, type TransportClosed, type UpstreamTransport } from "./transport.ts";

export class LegacySseTransport implements UpstreamTransport {
  onmessage: UpstreamTransport["onmessage"] = noop;
  onclose: UpstreamTransport["onclose"] = noop;

  private readonly config: HttpServerConfig;
  private readonly log: Logger;
  private readonly connectTimeoutMs: number;
  private readonly agent = createAgent();
  private readonly lifetime = new AbortController();
  private endpoint: string | undefined;
  private closedInfo: TransportClosed | undefined;
  private stopping = false;

  constructor(config: HttpServerConfig, log: Logger) {
    this.config = config;
    this.log = log;
    this.connectTimeoutMs = config.timeoutMs;
  }

  async start(): Promise<void> {
    // Not AbortSignal.timeout: the signal also governs the body, and the stream must outlive the connect phase.
    const connecting = new AbortController();
    const connectTimer = setTimeout(() => connecting.abort(), this.connectTimeoutMs);
    const signal = AbortSignal.any([this.lifetime.signal, connecting.signal]);
    let response: HttpResponse;
    try {
      response = await request(this.config.url, {
        method: "GET",
        headers: buildHeaders(this.config.headers, { accept: "text/event-stream" }),
        dispatcher: this.agent,
        signal,
      });
    } catch (error) {
      if (connecting.signal.aborted) {
        const reason = `did not answer the SSE GET within ${this.connectTimeoutMs} ms`;
        throw new TransportClosedError({ summary: reason, cause: reason });
      }
      throw new TransportClosedError(networkClosed(error));
    } finally {
      clearTimeout(connectTimer);
    }
    if (response.statusCode !== 200 || mediaType(response) !== "text/event-stream") {
      const detail = await bodySnippet(response);
      const closed = { summary: `answered the SSE GET with HTTP ${response.statusCode}`, cause: `HTTP ${response.statusCode} on the SSE GET${detail ? `: ${detail}` : ""}` };
      throw new TransportClosedError(closed);
    }
    await new Promise<void>((resolve, reject) => {
      const noEndpoint = (reason: string): void => reject(new TransportClosedError({ summary: reason, cause: reason }));
      const timer = setTimeout(() => noEndpoint(`sent no endpoint event within ${this.connectTimeoutMs} ms`), this.connectTimeoutMs);
      readEventStream(response.body, (event) => {
        if (event.event === "endpoint") {
          if (this.endpoint === undefined) this.setEndpoint(event.data, resolve, noEndpoint);
          return;
        }
        if (event.event !== undefined && event.event !== "message") return;
        let value: unknown;
        try {
          value = JSON.parse(event.data);
        } catch {
          this.log.warn({ data: event.data.slice(0, 200) }, "backend sent an SSE message that is not JSON");
          return;
        }
        this.onmessage(value);
      })
        .catch((error: unknown) => {
          if (!isAbortError(error)) this.log.debug({ err: (error as Error).message }, "legacy SSE stream broke");
        })
        .finally(() => {
          clearTimeout(timer);
          if (this.endpoint === undefined) noEndpoint("closed the SSE stream before sending its endpoint");
          else this.fail({ summary: "closed its SSE stream", cause: "SSE stream closed" });
        });
    }).catch((error: unknown) => {
      this.lifetime.abort();
      throw error;
    });
  }

  async send(message: JsonRpcMessage, headers?: Record<string, string>): Promise<void> {
    const endpoint = this.endpoint;
    if (this.closedInfo !== undefined || this.stopping || endpoint === undefined) {
      throw new TransportClosedError(this.closedInfo ?? { summary: "is not connected", cause: "not connected" });
    }
    let response: HttpResponse;
    try {
      response = await request(endpoint, {
        method: "POST",
        headers: buildHeaders(this.config.headers, { "content-type": "application/json", ...headers }),
        body: JSON.stringify(message),
        dispatcher: this.agent,
        signal: this.lifetime.signal,
      });
    } catch (error) {
      if (this.lifetime.signal.aborted) throw new TransportClosedError(this.closedInfo ?? { summary: "was stopped", cause: "stopped" });
      throw new TransportClosedError(this.fail(networkClosed(error)));
    }
    if (response.statusCode >= 200 && response.statusCode < 300) {
      discard(response);
      return;
    }
    throw new HttpStatusError(response.statusCode, await bodySnippet(response));
  }

  async close(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.lifetime.abort();
    await closeAgent(this.agent);
  }

  /** Relative endpoints resolve against the SSE URL; another origin is refused, since POSTs carry the configured headers. */
  private setEndpoint(data: string, resolve: () => void, reject: (reason: string) => void): void {
    let url: URL;
    try {
      url = new URL(data.trim(), this.config.url);
    } catch {
      reject(`sent an invalid endpoint ${JSON.stringify(data.slice(0, 200))}`);
      return;
    }
    if (url.origin !== new URL(this.config.url).origin) {
      reject(`sent an endpoint on another origin (${url.origin})`);
      return;
    }
    this.endpoint = url.href;
    resolve();
  }

  private fail(closed: TransportClosed): TransportClosed {
    if (this.closedInfo !== undefined || this.stopping) return this.closedInfo ?? closed;
    this.closedInfo = closed;
    this.lifetime.abort();
    this.log.warn({ cause: closed.cause }, "backend SSE connection lost");
    this.onclose(closed);
    return closed;
  }
}
