/**
 * resources/subscribe across clients sharing one backend: the backend sees one subscription per URI, held while
 * any client wants it, and each update fans out to exactly the clients that subscribed.
 */
export class ResourceSubscriptions {
  private readonly subscribers = new Map<string, Map<string, string>>();
  /** The backend subscribe in flight per URI: later subscribers wait on it rather than answer early. */
  private readonly pending = new Map<string, Promise<unknown>>();

  pendingFor(server: string, originalUri: string): Promise<unknown> | undefined {
    return this.pending.get(key(server, originalUri));
  }

  track(server: string, originalUri: string, upstream: Promise<unknown>): void {
    const k = key(server, originalUri);
    const settled = upstream.finally(() => {
      if (this.pending.get(k) === settled) this.pending.delete(k);
    });
    settled.catch(() => {});
    this.pending.set(k, settled);
  }

  /** Every URI of this server that some client holds a subscription to. */
  urisOf(server: string): string[] {
    const prefix = `${server}\u0000`;
    return [...this.subscribers.keys()].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
  }

  /** Returns true when this is the first subscriber, i.e. the backend must be asked to subscribe. */
  add(server: string, originalUri: string, sessionId: string, exposedUri: string): boolean {
    const k = key(server, originalUri);
    let sessions = this.subscribers.get(k);
    const first = sessions === undefined;
    if (sessions === undefined) {
      sessions = new Map();
      this.subscribers.set(k, sessions);
    }
    sessions.set(sessionId, exposedUri);
    return first;
  }

  /** Returns true when the last subscriber left, i.e. the backend should be asked to unsubscribe. */
  remove(server: string, originalUri: string, sessionId: string): boolean {
    const k = key(server, originalUri);
    const sessions = this.subscribers.get(k);
    if (sessions === undefined || !sessions.delete(sessionId)) return false;
    if (sessions.size > 0) return false;
    this.subscribers.delete(k);
    return true;
  }

  /** Every (server, uri) whose last subscriber was this session, after removing it everywhere. */
  removeSession(sessionId: string): Array<{ server: string; originalUri: string }> {
    const emptied: Array<{ server: string; originalUri: string }> = [];
    for (const [k, sessions] of this.subscribers) {
      if (sessions.delete(sessionId) && sessions.size === 0) {
        this.subscribers.delete(k);
        const [server, originalUri] = k.split("\u0000") as [string, string];
        emptied.push({ server, originalUri });
      }
    }
    return emptied;
  }

  /** sessionId → the URI that session subscribed with. */
  subscribersOf(server: string, originalUri: string): ReadonlyMap<string, string> {
    return this.subscribers.get(key(server, originalUri)) ?? new Map();
  }
}

function key(server: string, uri: string): string {
  return `${server}\u0000${uri}`;
}
