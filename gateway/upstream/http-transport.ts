/**
 * Streamable HTTP client (MCP 2025-03-26 and later): every message is a POST; a request's answer comes back as
 * JSON or as an SSE stream that may also carry the backend's notifications and requests about that call; an
 * optional GET stream carries everything else.
 */
import { Method, type JsonRpcId, type JsonRpcMessage } from "../protocol/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { Backoff } from "./backoff.ts";
import {
  bodySnippet,
  buildHeaders,
  closeAgent,
  createPool,
  discard,
  header,
  isAbortError,
  mediaType,
  networkClosed,
  pause,
  readEventStream,
  type HttpResponse,
} from "./http-common.ts";
import {
  HttpStatusError,
  SessionExpiredError,
  TransportClosedError,
  noop,
  type TransportClosed,
  type UpstreamSession,
  type UpstreamTransport,
} from "./transport.ts";

/** A response stream that ends early is resumed with Last-Event-ID at most this often. */
const MAX_RESUMES = 3;
/** The GET stream gives up after this many refusals in a row (not 405, which means "none offered"). */
const MAX_GET_REFUSALS = 5;
const DELETE_TIMEOUT_MS = 2_000;

interface StreamOutcome {
  answered: boolean;
  lastEventId: string | undefined;
  retryMs: number | undefined;
  events: number;
}

export class StreamableHttpTransport implements UpstreamTransport {
  onmessage: UpstreamTransport["onmessage"] = noop;
  onclose: UpstreamTransport["onclose"] = noop;
  onsessionexpired: NonNullable<UpstreamTransport["onsessionexpired"]> = noop;
  onresponselost: NonNullable<UpstreamTransport["onresponselost"]> = noop;

  private readonly config: HttpServerConfig;
  private readonly log: Logger;
  private readonly pool: ReturnType<typeof createPool>;
  /** path + query of the endpoint; the pool is bound to its origin. */
  private readonly path: string;
  /** The POST headers, rebuilt only when the session or version changes (not per call). */
  private postHeaders: Record<string, string> | undefined;
  /** Aborts every request and stream of this transport at once. */
  private readonly lifetime = new AbortController();
  /** Per request id, so a timed-out or cancelled call stops reading its stream. */
  private readonly streams = new Map<JsonRpcId, AbortController>();
  private sessionId: string | undefined;
  private protocolVersion: string | undefined;
  private standalone: AbortController | undefined;
  private closedInfo: TransportClosed | undefined;
  private stopping = false;

  constructor(config: HttpServerConfig, log: Logger) {
    this.config = config;
    this.log = log;
    const url = new URL(config.url);
    this.pool = createPool(url.origin);
    this.path = url.pathname + url.search;
  }

  async start(): Promise<void> {
    // Nothing to open: the initialize POST is the first contact.
  }

  async send(message: JsonRpcMessage, headers?: Record<string, string>): Promise<void> {
    if (this.closedInfo !== undefined || this.stopping) throw new TransportClosedError(this.closedInfo ?? { summary: "was stopped", cause: "stopped" });
    const requestId = "method" in message && "id" in message ? message.id : undefined;
    // Requests get their own controller (abandon() and close() abort it); other messages only need the lifetime.
    const call = requestId === undefined ? this.lifetime : new AbortController();
    if (requestId !== undefined) this.streams.set(requestId, call);
    const sentWithSession = this.sessionId;
    let streaming = false;
    try {
      const response = await this.post(message, call.signal, headers);
      if (response === undefined) return;
      if ("method" in message && message.method === Method.Initialize) {
        this.sessionId = header(response, "mcp-session-id");
        this.postHeaders = undefined;
      }
      streaming = await this.accept(response, requestId, sentWithSession, call);
    } catch (error) {
      // Nobody retries a notification or a response; the backend must still learn its session is gone.
      if (error instanceof SessionExpiredError && requestId === undefined) this.onsessionexpired();
      throw error;
    } finally {
      if (!streaming && requestId !== undefined) this.streams.delete(requestId);
    }
  }

  negotiated(protocolVersion: string): void {
    this.protocolVersion = protocolVersion;
    this.postHeaders = undefined;
  }

  initialized(): void {
    this.standalone?.abort();
    const controller = new AbortController();
    this.standalone = controller;
    void this.runStandaloneStream(controller.signal);
  }

  resumeSession(session: UpstreamSession): void {
    this.sessionId = session.sessionId;
    this.protocolVersion = session.protocolVersion;
    this.postHeaders = undefined;
  }

  currentSession(): UpstreamSession | undefined {
    return this.sessionId === undefined || this.protocolVersion === undefined ? undefined : { sessionId: this.sessionId, protocolVersion: this.protocolVersion };
  }

  resetSession(): void {
    this.standalone?.abort();
    this.standalone = undefined;
    this.sessionId = undefined;
    this.protocolVersion = undefined;
    this.postHeaders = undefined;
  }

  abandon(requestId: JsonRpcId): void {
    this.streams.get(requestId)?.abort();
    this.streams.delete(requestId);
  }

  async close(options: { keepSession?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.abortAll();
    if (this.sessionId !== undefined && this.closedInfo === undefined && options.keepSession !== true) {
      // Tell the server it can free the session; a server that does not allow DELETE answers 405, also fine.
      await this.pool
        .request({ method: "DELETE", path: this.path, headers: this.headers(), signal: AbortSignal.timeout(DELETE_TIMEOUT_MS) }).then(discard, (error: unknown) => this.log.debug({ err: (error as Error).message }, "session DELETE failed"));
    }
    await closeAgent(this.pool);
  }

  private headers(extra: Record<string, string | undefined> = {}): Record<string, string> {
    return buildHeaders(this.config.headers, {
      accept: "application/json, text/event-stream",
      "mcp-session-id": this.sessionId,
      "mcp-protocol-version": this.protocolVersion,
      ...extra,
    });
  }

  /** undefined when the POST was aborted on purpose (abandoned call). */
  private async post(message: JsonRpcMessage, signal: AbortSignal, extraHeaders?: Record<string, string>): Promise<HttpResponse | undefined> {
    try {
      this.postHeaders ??= this.headers({ "content-type": "application/json" });
      const headers = extraHeaders === undefined ? this.postHeaders : { ...this.postHeaders, ...extraHeaders };
      return await this.pool.request({ method: "POST", path: this.path, headers, body: JSON.stringify(message), signal });
    } catch (error) {
      if (this.lifetime.signal.aborted) throw new TransportClosedError(this.closedInfo ?? { summary: "was stopped", cause: "stopped" });
      if (signal.aborted && isAbortError(error)) return undefined;
      throw new TransportClosedError(this.fail(networkClosed(error)));
    }
  }

  /** Handles a POST's response. Returns true when an SSE body keeps streaming in the background. */
  private async accept(response: HttpResponse, requestId: JsonRpcId | undefined, sentWithSession: string | undefined, call: AbortController): Promise<boolean> {
    const status = response.statusCode;
    const type = mediaType(response);
    if (status === 202 || status === 204) {
      discard(response);
      return false;
    }
    if (status >= 200 && status < 300 && type === "text/event-stream") {
      void this.followResponseStream(response, requestId, call.signal);
      return true;
    }
    const text = await response.body.text().catch(() => "");
    if (sentWithSession !== undefined && sessionGone(status, text)) {
      throw new SessionExpiredError();
    }
    const messages = type === "application/json" ? parseJson(text) : undefined;
    const answers = messages !== undefined && (status < 300 || messages.some((m) => isResponseTo(m, requestId)));
    if (answers) {
      for (const value of messages) this.onmessage(value, requestId);
      return false;
    }
    if (status >= 200 && status < 300) return false;
    throw new HttpStatusError(status, text.replace(/\s+/g, " ").trim().slice(0, 200));
  }

  /** Reads a request's SSE answer; resumes with Last-Event-ID if it ends before the answer. */
  private async followResponseStream(response: HttpResponse, requestId: JsonRpcId | undefined, signal: AbortSignal): Promise<void> {
    let outcome = await this.readStream(response, requestId, undefined);
    for (let resume = 0; !outcome.answered && resume < MAX_RESUMES; resume++) {
      if (signal.aborted || this.lifetime.signal.aborted || outcome.lastEventId === undefined) break;
      await pause(outcome.retryMs ?? 100, signal);
      const resumed = await this.get(signal, outcome.lastEventId);
      if (resumed === undefined || resumed.statusCode !== 200 || mediaType(resumed) !== "text/event-stream") {
        if (resumed !== undefined) discard(resumed);
        break;
      }
      outcome = await this.readStream(resumed, requestId, outcome.lastEventId);
    }
    if (requestId !== undefined) this.streams.delete(requestId);
    if (!outcome.answered && requestId !== undefined && !signal.aborted && !this.lifetime.signal.aborted) {
      this.onresponselost(requestId, "closed the response stream");
    }
  }

  private async readStream(response: HttpResponse, requestId: JsonRpcId | undefined, lastEventId: string | undefined): Promise<StreamOutcome> {
    const outcome: StreamOutcome = { answered: false, lastEventId, retryMs: undefined, events: 0 };
    try {
      await readEventStream(response.body, (event) => {
        if (event.id !== undefined) outcome.lastEventId = event.id;
        if (event.retry !== undefined) outcome.retryMs = event.retry;
        // An empty data line is the spec's "priming" event: it only carries an id to resume from.
        if ((event.event !== undefined && event.event !== "message") || event.data === "") return;
        outcome.events++;
        let value: unknown;
        try {
          value = JSON.parse(event.data);
        } catch {
          this.log.warn({ data: event.data.slice(0, 200) }, "backend sent an SSE event that is not JSON");
          return;
        }
        if (isResponseTo(value, requestId)) outcome.answered = true;
        this.onmessage(value, requestId);
      });
    } catch (error) {
      if (!isAbortError(error)) this.log.debug({ err: (error as Error).message }, "backend SSE stream broke");
    }
    return outcome;
  }

  private async get(signal: AbortSignal, lastEventId: string | undefined): Promise<HttpResponse | undefined> {
    try {
      return await this.pool.request({
        method: "GET",
        path: this.path,
        headers: this.headers({ accept: "text/event-stream", "last-event-id": lastEventId }),
        signal,
      });
    } catch (error) {
      if (signal.aborted) return undefined;
      this.fail(networkClosed(error));
      return undefined;
    }
  }

  /** The GET stream for messages unrelated to any request; reconnects with backoff while the session lives. */
  private async runStandaloneStream(signal: AbortSignal): Promise<void> {
    const backoff = new Backoff({ baseMs: 250, capMs: 30_000 });
    let lastEventId: string | undefined;
    let refusals = 0;
    while (!signal.aborted && !this.lifetime.signal.aborted) {
      const session = this.sessionId;
      const response = await this.get(AbortSignal.any([this.lifetime.signal, signal]), lastEventId);
      if (response === undefined || signal.aborted) {
        if (response !== undefined) discard(response);
        return;
      }
      const status = response.statusCode;
      if (status === 405) {
        discard(response);
        this.log.debug("backend offers no standalone GET stream");
        return;
      }
      if (status === 200 && mediaType(response) === "text/event-stream") {
        refusals = 0;
        const outcome = await this.readStream(response, undefined, lastEventId);
        lastEventId = outcome.lastEventId;
        if (outcome.events > 0) backoff.reset();
      } else {
        const text = await bodySnippet(response);
        if (session !== undefined && session === this.sessionId && sessionGone(status, text)) {
          this.onsessionexpired();
          return;
        }
        if (++refusals >= MAX_GET_REFUSALS) {
          this.log.warn({ status, body: text }, "backend keeps refusing the GET stream; giving up on it");
          return;
        }
      }
      await pause(backoff.next(), signal);
    }
  }

  private abortAll(): void {
    this.lifetime.abort();
    for (const controller of this.streams.values()) controller.abort();
    this.streams.clear();
  }

  private fail(closed: TransportClosed): TransportClosed {
    if (this.closedInfo !== undefined || this.stopping) return this.closedInfo ?? closed;
    this.closedInfo = closed;
    this.abortAll();
    this.log.warn({ cause: closed.cause }, "backend connection lost");
    this.onclose(closed);
    return closed;
  }
}

/**
 * 404 is the spec's "session expired". Servers built on the SDK's example code answer 400 "No valid session ID"
 * for a session they do not know (e.g. after a restart), which means the same thing.
 */
function sessionGone(status: number, body: string): boolean {
  return status === 404 || (status === 400 && /session/i.test(body));
}

function parseJson(text: string): unknown[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) ? value : [value];
  } catch {
    return undefined;
  }
}

function isResponseTo(value: unknown, requestId: JsonRpcId | undefined): boolean {
  if (requestId === undefined || typeof value !== "object" || value === null) return false;
  const message = value as Record<string, unknown>;
  return message.id === requestId && ("result" in message || "error" in message);
}
