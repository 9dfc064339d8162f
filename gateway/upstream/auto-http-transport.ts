/**
 * `protocol: auto` on a Streamable HTTP server: which era it speaks is asked each time the transport starts (a
 * restart may be an upgrade), with one `server/discover` (2026-07-28's own probe), and the matching transport
 * then does the work. Any answer other than a 2026-07-28 DiscoverResult means a 2025 server.
 */
import { LATEST_MODERN_VERSION, META } from "../protocol/index.ts";
import type { HttpServerConfig } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { StreamableHttpTransport } from "./http-transport.ts";
import { discoverRequest, parseDiscover, postRequest, protocolHeaders } from "./modern-rounds.ts";
import { buildHeaders, closeAgent, createPool } from "./http-common.ts";
import { TransportClosedError, UPSTREAM_CLIENT_INFO, noop, type UpstreamSession, type UpstreamTransport } from "./transport.ts";
import type { JsonRpcId, JsonRpcMessage } from "../protocol/index.ts";

const PROBE_TIMEOUT_MS = 10_000;

/**
 * Whether the server at config.url speaks 2026-07-28: one server/discover POST, true only for a DiscoverResult
 * listing that version. Any other answer (a 2025 server's error, an HTTP error status) is false. Rejects when no
 * answer came at all (unreachable, timed out): that says nothing about the server's era.
 */
export async function probeModern(config: HttpServerConfig): Promise<boolean> {
  const url = new URL(config.url);
  const pool = createPool(url.origin);
  const meta = { [META.protocolVersion]: LATEST_MODERN_VERSION, [META.clientInfo]: UPSTREAM_CLIENT_INFO, [META.clientCapabilities]: {} };
  const message = discoverRequest("probe", meta);
  const timeoutMs = Math.min(config.timeoutMs, PROBE_TIMEOUT_MS);
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const answer = await postRequest({ pool, path: url.pathname + url.search }, buildHeaders(config.headers, protocolHeaders(message.method)), message, signal, () => undefined);
    return parseDiscover(answer).ok;
  } catch (error) {
    if (error instanceof TransportClosedError) throw error;
    if (signal.aborted) throw new Error(`server/discover got no answer within ${timeoutMs} ms`);
    return false;
  } finally {
    await closeAgent(pool);
  }
}

export class AutoHttpTransport implements UpstreamTransport {
  onmessage: UpstreamTransport["onmessage"] = noop;
  onclose: UpstreamTransport["onclose"] = noop;
  onsessionexpired: NonNullable<UpstreamTransport["onsessionexpired"]> = noop;
  onresponselost: NonNullable<UpstreamTransport["onresponselost"]> = noop;
  private inner: UpstreamTransport | undefined;
  private readonly config: HttpServerConfig;
  private readonly log: Logger;
  private readonly modern: () => UpstreamTransport;

  constructor(config: HttpServerConfig, log: Logger, modern: () => UpstreamTransport) {
    this.config = config;
    this.log = log;
    this.modern = modern;
  }

  async start(): Promise<void> {
    const modern = await probeModern(this.config);
    const inner = modern ? this.modern() : new StreamableHttpTransport(this.config, this.log);
    this.log.info({ protocol: modern ? LATEST_MODERN_VERSION : "2025" }, "protocol: auto chose the server's era");
    inner.onmessage = (message, related) => this.onmessage(message, related);
    inner.onclose = (closed) => this.onclose(closed);
    inner.onsessionexpired = () => this.onsessionexpired();
    inner.onresponselost = (id, reason) => this.onresponselost(id, reason);
    this.inner = inner;
    await inner.start();
  }

  send(message: JsonRpcMessage, headers?: Record<string, string>): Promise<void> {
    if (this.inner === undefined) return Promise.reject(new Error("the transport has not started"));
    return this.inner.send(message, headers);
  }

  close(options?: { keepSession?: boolean }): Promise<void> {
    return this.inner?.close(options) ?? Promise.resolve();
  }

  negotiated(protocolVersion: string): void {
    this.inner?.negotiated?.(protocolVersion);
  }

  initialized(): void {
    this.inner?.initialized?.();
  }

  resetSession(): void {
    this.inner?.resetSession?.();
  }

  resumeSession(session: UpstreamSession): void {
    this.inner?.resumeSession?.(session);
  }

  currentSession(): UpstreamSession | undefined {
    return this.inner?.currentSession?.();
  }

  abandon(requestId: JsonRpcId): void {
    this.inner?.abandon?.(requestId);
  }
}
