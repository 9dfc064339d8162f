/**
 * Protocol revisions the gateway speaks on its agent-facing side, in two families. Legacy (2025-03-26 …
 * 2025-11-25): a session opened by initialize. Modern (2026-07-28 on): stateless, every request carries its version,
 * client info and capabilities in `_meta`. One endpoint serves both, chosen per request.
 */
export const SUPPORTED_PROTOCOL_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export type ProtocolVersion = (typeof SUPPORTED_PROTOCOL_VERSIONS)[number];

export const MODERN_PROTOCOL_VERSIONS = ["2026-07-28"] as const;
export type ModernProtocolVersion = (typeof MODERN_PROTOCOL_VERSIONS)[number];
export type AnyProtocolVersion = ProtocolVersion | ModernProtocolVersion;

/** Every version, newest first: what UnsupportedProtocolVersion and server/discover list. */
export const ALL_PROTOCOL_VERSIONS: readonly AnyProtocolVersion[] = [...MODERN_PROTOCOL_VERSIONS, ...SUPPORTED_PROTOCOL_VERSIONS];

export const LATEST_PROTOCOL_VERSION: ProtocolVersion = "2025-11-25";
export const LATEST_MODERN_VERSION: ModernProtocolVersion = "2026-07-28";

/** The Streamable HTTP spec: a request without MCP-Protocol-Version is treated as 2025-03-26. */
export const VERSION_WHEN_HEADER_ABSENT: ProtocolVersion = "2025-03-26";

export function isSupportedVersion(value: string): value is ProtocolVersion {
  return (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(value);
}

export function isModernVersion(value: string): value is ModernProtocolVersion {
  return (MODERN_PROTOCOL_VERSIONS as readonly string[]).includes(value);
}

/** initialize: echo the client's version when we speak it, otherwise offer our latest (the client may then leave). */
export function negotiateVersion(requested: unknown): ProtocolVersion {
  return typeof requested === "string" && isSupportedVersion(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/** 2025-03-26 allowed JSON-RPC batches; 2025-06-18 removed them. */
export function allowsBatches(version: AnyProtocolVersion): boolean {
  return version === "2025-03-26";
}

/** `_meta` keys a modern request carries instead of a session (2026-07-28 basic/index). */
export const META = {
  protocolVersion: "io.modelcontextprotocol/protocolVersion",
  clientInfo: "io.modelcontextprotocol/clientInfo",
  clientCapabilities: "io.modelcontextprotocol/clientCapabilities",
  logLevel: "io.modelcontextprotocol/logLevel",
  serverInfo: "io.modelcontextprotocol/serverInfo",
  subscriptionId: "io.modelcontextprotocol/subscriptionId",
} as const;
