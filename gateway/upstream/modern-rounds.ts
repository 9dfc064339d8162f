/**
 * The request side of MCP 2026-07-28 over HTTP, for modern-http-transport.ts: one POST and its answer (JSON or an
 * SSE response stream), server/discover, and the MRTR loop that turns an InputRequiredResult into server-to-client
 * requests for the 2025-family peer and retries the original request with the answers.
 */
import type { Pool } from "undici";
import {
  ErrorCode,
  JsonRpcError,
  LATEST_MODERN_VERSION,
  MCP_HEADER,
  META,
  SseParser,
  asObject,
  classify,
  failure,
  success,
  type JsonObject,
  type JsonRpcErrorObject,
  type JsonRpcId,
  type JsonRpcNotification,
  type JsonRpcRequest,
  type JsonRpcResponse,
  type ServerCapabilities,
} from "../protocol/index.ts";
import { mediaType, networkClosed, type HttpResponse } from "./http-common.ts";
import { HttpStatusError, TransportClosedError } from "./transport.ts";

const ACCEPT = "application/json, text/event-stream";
/** A server that keeps answering input_required is looping or hostile; the call fails after this many rounds. */
const MAX_ROUNDS = 16;

export interface HttpTarget {
  pool: Pool;
  path: string;
}

export interface DiscoverResult {
  supportedVersions: string[];
  capabilities: ServerCapabilities;
  instructions?: string;
  _meta?: JsonObject;
}

/** The response stream ended (or broke) before the answer; the request is lost (2026 streams cannot resume). */
export class ResponseLostError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "ResponseLostError";
  }
}

/**
 * POSTs one request and resolves with its answer. Notifications on an SSE answer go to `onNotification` as they
 * arrive. Rejects with TransportClosedError (network), HttpStatusError (a status without a JSON-RPC answer),
 * ResponseLostError, or the abort error when `signal` aborts; aborting closes the stream, which is how 2026
 * cancels a request.
 */
export async function postRequest(
  http: HttpTarget,
  headers: Record<string, string>,
  message: JsonRpcRequest,
  signal: AbortSignal,
  onNotification: (message: JsonRpcNotification) => void,
): Promise<JsonRpcResponse> {
  let response: HttpResponse;
  try {
    response = await http.pool.request({ method: "POST", path: http.path, headers, body: JSON.stringify(message), signal });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new TransportClosedError(networkClosed(error));
  }
  const status = response.statusCode;
  if (status >= 200 && status < 300 && mediaType(response) === "text/event-stream") {
    return readAnswerStream(response, message.id, signal, onNotification);
  }
  const text = await response.body.text().catch(() => "");
  const answer = mediaType(response) === "application/json" ? answerIn(text, message.id) : undefined;
  if (answer !== undefined) return answer;
  if (status >= 300) throw new HttpStatusError(status, text.replace(/\s+/g, " ").trim().slice(0, 200));
  throw new ResponseLostError(`answered with HTTP ${status} but no JSON-RPC response`);
}

async function readAnswerStream(
  response: HttpResponse,
  id: JsonRpcId,
  signal: AbortSignal,
  onNotification: (message: JsonRpcNotification) => void,
): Promise<JsonRpcResponse> {
  const events: string[] = [];
  const parser = new SseParser((event) => {
    if ((event.event === undefined || event.event === "message") && event.data !== "") events.push(event.data);
  });
  response.body.setEncoding("utf8");
  try {
    // Leaving the loop once answered destroys the body: a server that keeps the stream open cannot hold us.
    for await (const chunk of response.body) {
      parser.push(chunk as string);
      for (const data of events.splice(0)) {
        const classified = classify(parseJson(data));
        if (classified.kind === "notification") onNotification(classified.message);
        else if (classified.kind === "response" && (classified.message.id === id || classified.message.id === null)) {
          return { ...classified.message, id } as JsonRpcResponse;
        }
      }
    }
  } catch (error) {
    if (signal.aborted) throw error;
    throw new ResponseLostError("broke the response stream");
  }
  throw new ResponseLostError("closed the response stream");
}

/** The JSON-RPC answer to `id` in a JSON body; an error without id (a 400 may have none) counts as ours. */
function answerIn(text: string, id: JsonRpcId): JsonRpcResponse | undefined {
  const classified = classify(parseJson(text));
  if (classified.kind !== "response") return undefined;
  const message = classified.message;
  if (message.id === id || (message.id === null && "error" in message)) return { ...message, id } as JsonRpcResponse;
  return undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function protocolHeaders(method: string): Record<string, string> {
  return {
    "content-type": "application/json",
    accept: ACCEPT,
    [MCP_HEADER.protocolVersion]: LATEST_MODERN_VERSION,
    [MCP_HEADER.method]: method,
  };
}

export function discoverRequest(id: JsonRpcId, meta: JsonObject): JsonRpcRequest {
  return { jsonrpc: "2.0", id, method: "server/discover", params: { _meta: meta } };
}

/** The DiscoverResult in an answer, or why the server is not a 2026-07-28 one. */
export function parseDiscover(answer: JsonRpcResponse): { ok: true; result: DiscoverResult } | { ok: false; reason: string } {
  if ("error" in answer) {
    const supported = asObject(answer.error.data)?.supported;
    const versions = Array.isArray(supported) ? ` (it supports ${supported.map(String).join(", ")})` : "";
    return { ok: false, reason: `server/discover failed with ${answer.error.code} ${answer.error.message}${versions}` };
  }
  const result = answer.result;
  const versions = result.supportedVersions;
  if (!Array.isArray(versions) || !versions.every((v) => typeof v === "string")) {
    return { ok: false, reason: "server/discover answered without supportedVersions" };
  }
  if (!versions.includes(LATEST_MODERN_VERSION)) {
    return { ok: false, reason: `server/discover lists ${JSON.stringify(versions)}, not ${LATEST_MODERN_VERSION}` };
  }
  const capabilities = asObject(result.capabilities);
  if (capabilities === undefined) return { ok: false, reason: "server/discover answered without capabilities" };
  const discovered: DiscoverResult = { supportedVersions: versions as string[], capabilities: capabilities as ServerCapabilities };
  if (typeof result.instructions === "string") discovered.instructions = result.instructions;
  const meta = asObject(result._meta);
  if (meta !== undefined) discovered._meta = meta;
  return { ok: true, result: discovered };
}

export function serverInfoOf(discovered: DiscoverResult, fallbackName: string): JsonObject {
  const info = asObject(discovered._meta?.[META.serverInfo]);
  return info !== undefined && typeof info.name === "string" ? info : { name: fallbackName, version: "unknown" };
}

/** What the MRTR loop needs from the transport. */
export interface Rounds {
  /** POSTs one attempt; notifications on its stream go up related to the original request. */
  post(message: JsonRpcRequest, signal: AbortSignal): Promise<JsonRpcResponse>;
  /** Relays one input request to the gateway client; resolves with its result, rejects with its JsonRpcError. */
  ask(method: string, params: JsonObject | undefined, signal: AbortSignal): Promise<JsonObject>;
  retryId(): JsonRpcId;
  server: string;
}

/**
 * Runs a request to its final answer, which carries the original id. Each retry repeats the original params with
 * a new id plus inputResponses and requestState (MRTR: never cached, never reused for another request).
 */
export async function runRounds(rounds: Rounds, request: JsonRpcRequest, signal: AbortSignal): Promise<JsonRpcResponse> {
  let attempt = request;
  for (let round = 0; ; round++) {
    const answer = await rounds.post(attempt, signal);
    if ("error" in answer) return failure(request.id, answer.error);
    const { resultType, ...result } = answer.result;
    if (resultType === undefined || resultType === "complete") return success(request.id, result);
    const fail = (message: string): JsonRpcResponse => failure(request.id, { code: ErrorCode.InternalError, message: `server "${rounds.server}" ${message}` });
    if (resultType !== "input_required") return fail(`answered ${request.method} with an unsupported resultType ${JSON.stringify(resultType)}`);
    if (round >= MAX_ROUNDS) return fail(`still asked for input on ${request.method} after ${MAX_ROUNDS} rounds`);
    const inputRequests = asObject(result.inputRequests);
    const state = typeof result.requestState === "string" ? result.requestState : undefined;
    if (inputRequests === undefined && state === undefined) return fail(`answered ${request.method} with input_required but asked for nothing`);
    const params: JsonObject = { ...request.params };
    if (inputRequests !== undefined) {
      const answers = await askAll(rounds, inputRequests, signal);
      if ("error" in answers) return failure(request.id, answers.error);
      params.inputResponses = answers.responses;
    }
    if (state !== undefined) params.requestState = state;
    attempt = { jsonrpc: "2.0", id: rounds.retryId(), method: request.method, params };
  }
}

/** Asks for every input at once; the first error wins, and the questions still open are withdrawn. */
async function askAll(
  rounds: Rounds,
  inputRequests: JsonObject,
  signal: AbortSignal,
): Promise<{ responses: JsonObject } | { error: JsonRpcErrorObject }> {
  const siblings = new AbortController();
  const both = AbortSignal.any([signal, siblings.signal]);
  try {
    const entries = await Promise.all(
      Object.entries(inputRequests).map(async ([key, value]) => {
        const input = asObject(value);
        if (input === undefined || typeof input.method !== "string") {
          throw new JsonRpcError(ErrorCode.InternalError, `server "${rounds.server}" sent an invalid input request "${key}"`);
        }
        return [key, await rounds.ask(input.method, asObject(input.params), both)] as const;
      }),
    );
    return { responses: Object.fromEntries(entries) };
  } catch (error) {
    if (signal.aborted || !(error instanceof JsonRpcError)) throw error;
    return { error: error.toJSON() };
  } finally {
    siblings.abort();
  }
}
