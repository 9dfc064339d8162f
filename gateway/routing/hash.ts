/** Definition hashes: sha256 over canonical JSON, so that key order never changes a hash but any edit does. */
import { canonicalJson, sha256Hex } from "../protocol/index.ts";

/** sha256 (hex) of the canonical JSON of `definition`. */
export function definitionHash(definition: unknown): string {
  return sha256Hex(canonicalJson(definition));
}
