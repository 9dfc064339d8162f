/** Pieces both HTTP transports share: the keep-alive agent, header building, SSE body reading, error wording. */
import { Agent, Pool, type Dispatcher } from "undici";
import { SseParser, type SseEvent } from "../protocol/index.ts";
import type { TransportClosed } from "./transport.ts";

export type HttpResponse = Dispatcher.ResponseData;

const AGENT_CLOSE_GRACE_MS = 1_000;

/**
 * One agent per backend: keep-alive sockets, no undici-level timeouts. Call timeouts live in the peer, and an
 * SSE stream may legitimately sit idle for minutes, which undici's default bodyTimeout (300 s) would cut.
 */
export function createAgent(): Agent {
  return new Agent({ keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connections: 64 });
}

/** A pool bound to one origin: the hot path skips the agent's per-request origin lookup and URL parsing. */
export function createPool(origin: string): Pool {
  return new Pool(origin, { keepAliveTimeout: 30_000, headersTimeout: 0, bodyTimeout: 0, connections: 64 });
}

export async function closeAgent(agent: Agent | Pool): Promise<void> {
  const graceful = agent.close().then(() => true, () => false);
  const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), AGENT_CLOSE_GRACE_MS).unref());
  if (!(await Promise.race([graceful, timeout]))) await agent.destroy().catch(() => undefined);
}

/**
 * Only the configured headers go upstream, never anything from the agent's request (credentials stay at the
 * gateway). Keys are lowercased so a configured "Accept" cannot duplicate the protocol's own.
 */
export function buildHeaders(configured: Record<string, string>, protocol: Record<string, string | undefined>): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [key, value] of Object.entries(configured)) headers[key.toLowerCase()] = value;
  for (const [key, value] of Object.entries(protocol)) if (value !== undefined) headers[key] = value;
  return headers;
}

export function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function mediaType(response: HttpResponse): string {
  return (header(response, "content-type") ?? "").split(";")[0]!.trim().toLowerCase();
}

/** The wording for a network failure: `server "x" lost its connection (ECONNREFUSED) before answering m`. */
export function networkClosed(error: unknown): TransportClosed {
  const cause = (error as { cause?: { code?: unknown } })?.cause;
  const code = (error as { code?: unknown })?.code ?? cause?.code ?? (error as Error)?.message ?? "unknown error";
  return { summary: `lost its connection (${String(code)})`, cause: `connection error ${String(code)}` };
}

export function isAbortError(error: unknown): boolean {
  const name = (error as Error)?.name;
  const code = (error as { code?: unknown })?.code;
  return name === "AbortError" || code === "UND_ERR_ABORTED" || code === "ABORT_ERR";
}

/** Reads an event-stream body to its end. Resolves normally on a clean end; rejects when the body errors. */
export async function readEventStream(body: HttpResponse["body"], onEvent: (event: SseEvent) => void): Promise<void> {
  const parser = new SseParser(onEvent);
  body.setEncoding("utf8");
  for await (const chunk of body) parser.push(chunk as string);
}

/** Snippet of an error body for messages and logs: short, single line. */
export async function bodySnippet(response: HttpResponse): Promise<string> {
  const text = await response.body.text().catch(() => "");
  return text.replace(/\s+/g, " ").trim().slice(0, 200);
}

export function discard(response: HttpResponse): void {
  response.body.dump().catch(() => undefined);
}

/** Resolves after `ms`, or early (without throwing) when the signal aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
