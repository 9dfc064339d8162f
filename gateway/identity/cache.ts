/**
 * Verified identities keyed by sha256(token). The key is a hash so that the cache never holds a usable token
 * (a heap dump shows no bearer secrets), and an entry lives until the token's exp, never longer.
 */
import { hash } from "node:crypto";
import type { AgentIdentity } from "./types.ts";

export function tokenKey(token: string): string {
  return hash("sha256", token, "base64url");
}

export class IdentityCache {
  readonly #maxEntries: number;
  /** Map keeps insertion order, so the first key is the oldest entry: evicting it is O(1). */
  readonly #entries = new Map<string, AgentIdentity>();

  constructor(maxEntries: number) {
    this.#maxEntries = Math.max(0, Math.floor(maxEntries));
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached identity while `nowSeconds` is before its exp; a lapsed entry is dropped and undefined returned. */
  get(key: string, nowSeconds: number): AgentIdentity | undefined {
    const identity = this.#entries.get(key);
    if (identity === undefined) return undefined;
    if (nowSeconds >= identity.expiresAt) {
      this.#entries.delete(key);
      return undefined;
    }
    return identity;
  }

  set(key: string, identity: AgentIdentity): void {
    if (this.#maxEntries === 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, identity);
  }
}
