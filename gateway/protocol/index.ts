export * from "./jsonrpc.ts";
export * from "./errors.ts";
export * from "./versions.ts";
export * from "./framing.ts";
export * from "./sse.ts";
export * from "./mcp.ts";
export * from "./mcp-headers.ts";
export * from "./canonical-json.ts";
