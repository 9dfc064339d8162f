/**
 * A small, spec-faithful MCP 2026-07-28 client over Streamable HTTP, for tests (no SDK speaks 2026-07-28 yet).
 *
 * Every request: one POST with MCP-Protocol-Version, Mcp-Method, Mcp-Name (tools/call, prompts/get,
 * resources/read; Base64 sentinel when needed) and Mcp-Param-* from the tool's x-mcp-header annotations, and the
 * version, client info and capabilities in `params._meta`. Answers are JSON or an SSE stream of notifications
 * ending in the response. MRTR: an `input_required` result is answered by `onInput` and retried with a new id,
 * `inputResponses` and the echoed `requestState`. Cancellation: closing the stream (aborting the fetch).
 */
import {
  SseParser,
  encodeHeaderValue,
  headerParamsOf,
  headerValuesOf,
  nameHeaderSource,
  type HeaderParam,
  type JsonObject,
  type JsonRpcMessage,
  type JsonRpcNotification,
  type JsonRpcResponse,
} from "../../gateway/protocol/index.ts";

export const MODERN = "2026-07-28";

export interface ModernReply {
  status: number;
  contentType: string;
  /** The JSON-RPC response, when the body carried one. */
  response: JsonRpcResponse | undefined;
  /** Notifications that came on the response stream before the answer. */
  notifications: JsonRpcNotification[];
}

export interface ModernClientOptions {
  url: string;
  token?: string;
  clientInfo?: { name: string; version: string };
  capabilities?: JsonObject;
  logLevel?: string;
}

export type InputHandler = (requests: Record<string, { method: string; params?: JsonObject }>) => Promise<Record<string, JsonObject>>;

export class ModernClient {
  private nextId = 0;
  private readonly headerParams = new Map<string, readonly HeaderParam[]>();
  readonly options: ModernClientOptions;

  constructor(options: ModernClientOptions) {
    this.options = options;
  }

  meta(extra: JsonObject = {}): JsonObject {
    const meta: JsonObject = {
      "io.modelcontextprotocol/protocolVersion": MODERN,
      "io.modelcontextprotocol/clientInfo": this.options.clientInfo ?? { name: "modern-test-client", version: "1.0.0" },
      "io.modelcontextprotocol/clientCapabilities": this.options.capabilities ?? {},
      ...extra,
    };
    if (this.options.logLevel !== undefined) meta["io.modelcontextprotocol/logLevel"] = this.options.logLevel;
    return meta;
  }

  /** The headers a conforming client sends for this body. */
  headersFor(method: string, params: JsonObject | undefined): Record<string, string> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "mcp-protocol-version": MODERN,
      "mcp-method": method,
    };
    if (this.options.token !== undefined) headers.authorization = `Bearer ${this.options.token}`;
    const name = nameHeaderSource(method, params);
    if (name !== undefined) headers["mcp-name"] = encodeHeaderValue(name);
    if (method === "tools/call" && typeof params?.name === "string") {
      for (const [suffix, value] of headerValuesOf(this.headerParams.get(params.name) ?? [], params.arguments)) headers[`mcp-param-${suffix.toLowerCase()}`] = value;
    }
    return headers;
  }

  /** One request; `headers` replace the computed ones (null removes one), for the validation tests. */
  async request(
    method: string,
    params: JsonObject = {},
    options: { headers?: Record<string, string | null>; signal?: AbortSignal; onNotification?: (n: JsonRpcNotification) => void; meta?: JsonObject | null } = {},
  ): Promise<ModernReply> {
    const body: JsonObject = { ...params };
    if (options.meta !== null) body._meta = { ...this.meta(), ...(options.meta ?? {}), ...(params._meta as JsonObject | undefined) };
    const id = ++this.nextId;
    const headers = this.headersFor(method, body);
    for (const [key, value] of Object.entries(options.headers ?? {})) {
      if (value === null) delete headers[key.toLowerCase()];
      else headers[key.toLowerCase()] = value;
    }
    return this.post(headers, JSON.stringify({ jsonrpc: "2.0", id, method, params: body }), options);
  }

  async post(headers: Record<string, string>, body: string, options: { signal?: AbortSignal; onNotification?: (n: JsonRpcNotification) => void } = {}): Promise<ModernReply> {
    const response = await fetch(this.options.url, { method: "POST", headers, body, signal: options.signal });
    const contentType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim();
    const notifications: JsonRpcNotification[] = [];
    if (contentType !== "text/event-stream") {
      const text = await response.text();
      return { status: response.status, contentType, response: text === "" ? undefined : (JSON.parse(text) as JsonRpcResponse), notifications };
    }
    let answer: JsonRpcResponse | undefined;
    const parser = new SseParser((event) => {
      const message = JSON.parse(event.data) as JsonRpcMessage;
      if ("method" in message && !("id" in message)) {
        notifications.push(message);
        options.onNotification?.(message);
      } else if ("result" in message || "error" in message) {
        answer = message;
      }
    });
    const decoder = new TextDecoder();
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      parser.push(decoder.decode(chunk, { stream: true }));
      if (answer !== undefined) break;
    }
    return { status: response.status, contentType, response: answer, notifications };
  }

  async discover(): Promise<JsonObject> {
    return resultOf(await this.request("server/discover"));
  }

  /** Every page; remembers each tool's x-mcp-header annotations for later calls. */
  async listTools(): Promise<JsonObject[]> {
    const tools: JsonObject[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const result = resultOf(await this.request("tools/list", cursor === undefined ? {} : { cursor }));
      tools.push(...(result.tools as JsonObject[]));
      cursor = result.nextCursor as string | undefined;
      if (cursor === undefined) break;
    }
    for (const tool of tools) {
      const params = headerParamsOf(tool.inputSchema);
      if (params.ok) this.headerParams.set(tool.name as string, params.params);
    }
    return tools;
  }

  /** tools/call through every MRTR round (at most 10); returns each round's reply. */
  async callTool(
    name: string,
    args: JsonObject = {},
    options: { onInput?: InputHandler; onNotification?: (n: JsonRpcNotification) => void; signal?: AbortSignal; progressToken?: string } = {},
  ): Promise<ModernReply[]> {
    const rounds: ModernReply[] = [];
    let extra: JsonObject = {};
    for (let round = 0; round < 10; round++) {
      const params: JsonObject = { name, arguments: args, ...extra };
      if (options.progressToken !== undefined) params._meta = { ...this.meta(), progressToken: options.progressToken };
      const reply = await this.request("tools/call", params, { signal: options.signal, onNotification: options.onNotification });
      rounds.push(reply);
      const result = reply.response !== undefined && "result" in reply.response ? reply.response.result : undefined;
      if (result?.resultType !== "input_required") return rounds;
      const requests = (result.inputRequests ?? {}) as Record<string, { method: string; params?: JsonObject }>;
      if (options.onInput === undefined) throw new Error(`the server asked for input: ${JSON.stringify(requests)}`);
      extra = { inputResponses: await options.onInput(requests), ...(result.requestState === undefined ? {} : { requestState: result.requestState }) };
    }
    throw new Error("more than 10 MRTR rounds");
  }

  /** subscriptions/listen: the stream's messages as they arrive; `close()` ends it (the client's cancellation). */
  listen(notifications: JsonObject): { id: number; messages: JsonRpcMessage[]; status: Promise<number>; close(): void } {
    const controller = new AbortController();
    const messages: JsonRpcMessage[] = [];
    const id = ++this.nextId;
    const params = { notifications, _meta: this.meta() };
    const status = fetch(this.options.url, {
      method: "POST",
      headers: this.headersFor("subscriptions/listen", params),
      body: JSON.stringify({ jsonrpc: "2.0", id, method: "subscriptions/listen", params }),
      signal: controller.signal,
    }).then(async (response) => {
      const contentType = response.headers.get("content-type") ?? "";
      if (!contentType.startsWith("text/event-stream")) {
        messages.push(JSON.parse(await response.text()) as JsonRpcMessage);
        return response.status;
      }
      const parser = new SseParser((event) => messages.push(JSON.parse(event.data) as JsonRpcMessage));
      const decoder = new TextDecoder();
      void (async () => {
        try {
          for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.push(decoder.decode(chunk, { stream: true }));
        } catch {
          // closed by close()
        }
      })();
      return response.status;
    });
    return { id, messages, status, close: () => controller.abort() };
  }
}

export function resultOf(reply: ModernReply): JsonObject {
  if (reply.response === undefined || !("result" in reply.response)) throw new Error(`expected a result, got HTTP ${reply.status} ${JSON.stringify(reply.response)}`);
  return reply.response.result;
}
