/** Protocol revisions the gateway speaks on its agent-facing side, newest first. */
export const SUPPORTED_PROTOCOL_VERSIONS = ["2025-11-25", "2025-06-18", "2025-03-26"] as const;
export type ProtocolVersion = (typeof SUPPORTED_PROTOCOL_VERSIONS)[number];

export const LATEST_PROTOCOL_VERSION: ProtocolVersion = "2025-11-25";

/** The Streamable HTTP spec: a request without MCP-Protocol-Version is treated as 2025-03-26. */
export const VERSION_WHEN_HEADER_ABSENT: ProtocolVersion = "2025-03-26";

export function isSupportedVersion(value: string): value is ProtocolVersion {
  return (SUPPORTED_PROTOCOL_VERSIONS as readonly string[]).includes(value);
}

/** initialize: echo the client's version when we speak it, otherwise offer our latest (the client may then leave). */
export function negotiateVersion(requested: unknown): ProtocolVersion {
  return typeof requested === "string" && isSupportedVersion(requested) ? requested : LATEST_PROTOCOL_VERSION;
}

/** 2025-03-26 allowed JSON-RPC batches; 2025-06-18 removed them. */
export function allowsBatches(version: ProtocolVersion): boolean {
  return version === "2025-03-26";
}
