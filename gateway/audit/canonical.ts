/**
 * The bytes a record's hash covers are the canonical JSON (RFC 8785 style) of protocol/canonical-json.ts: the
 * same function serves tool-definition hashes, so there is one definition of "canonical" in the gateway.
 */
export { canonicalJson, deepFreeze, sha256Hex } from "../protocol/canonical-json.ts";

/** The `prev` of the very first record of a chain. */
export const GENESIS = "0".repeat(64);
