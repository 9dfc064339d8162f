/**
 * Keeps an engine's bundle current. A file bundle is watched through its directory (editors and Kubernetes
 * replace files by rename, which a watch on the file itself misses), debounced, with a stat check every
 * pollIntervalMs as a fallback for filesystems that drop events. A URL bundle is polled with If-None-Match.
 *
 * A bundle that cannot be read, parsed, verified or compiled is refused: the old policy keeps serving, the error
 * is logged and counted, and nothing throws. Reloads run one at a time; requests made meanwhile share the next one.
 */
import { watch, type FSWatcher } from "node:fs";
import { createHash } from "node:crypto";
import { stat } from "node:fs/promises";
import path from "node:path";
import { logger } from "../log.ts";
import { bundleRequest, describeFetchError, displaySource, isUrl, parseBundle, readArchive, readBody, type LoadedBundle } from "./bundle.ts";
import { preparePolicy, WARMUP_INPUTS, type PolicyEngine, type PrepareOptions } from "./engine.ts";
import { loadVerificationKeys } from "./signatures.ts";
import { PolicyBundleError, type PolicyVerifyConfig, type ReloadResult, type ReloadStats } from "./types.ts";

export interface ReloaderOptions extends PrepareOptions {
  engine: PolicyEngine;
  /** A file path or an http(s) URL. */
  source: string;
  verify?: PolicyVerifyConfig;
  /** Default 10000. For files: the stat fallback; 0 turns polling off (tests). */
  pollIntervalMs?: number;
  /** Quiet period after the last file event before reloading. Default 200. */
  debounceMs?: number;
  /** Watch the file with fs.watch. Default true. */
  watchFile?: boolean;
  /** URL fetch timeout. Default 10000. */
  fetchTimeoutMs?: number;
  /** Bound on the compressed download and the uncompressed archive. Default 64 MiB. */
  maxBytes?: number;
  /** For log lines and stats consumers: "live" or "shadow". */
  role?: string;
  /** A bundle replaced the one serving (not the first load): replicas tell each other (state/ bus). */
  onLoaded?: (revision: string | undefined) => void;
}

export class PolicyReloader {
  readonly source: string;
  /** The source as logs and errors show it (a URL without credentials or query). */
  readonly #name: string;
  readonly #options: ReloaderOptions;
  readonly #log;
  #stats: ReloadStats = { loads: 0, rejects: 0, lastError: undefined, revision: undefined, lastLoadAt: undefined, lastErrorAt: undefined };
  #watcher: FSWatcher | undefined;
  #debounce: NodeJS.Timeout | undefined;
  #poll: NodeJS.Timeout | undefined;
  #running: Promise<ReloadResult> | undefined;
  #queued: Promise<ReloadResult> | undefined;
  #started = false;
  /** The last refused archive's digest: polls do not judge the same bytes twice (an explicit reloadNow does). */
  #refusedDigest: string | undefined;
  #forceNext = false;
  #etag: string | undefined;
  #fileStamp: string | undefined;

  constructor(options: ReloaderOptions) {
    this.#options = options;
    this.source = options.source;
    this.#name = displaySource(options.source);
    this.#log = logger("policy", { role: options.role ?? "live", bundle: this.#name });
  }

  stats(): ReloadStats {
    return { ...this.#stats, revision: this.#options.engine.revision };
  }

  /** Loads the bundle once, then watches or polls. Resolves with the first load's result; never rejects. */
  async start(): Promise<ReloadResult> {
    if (this.#started) return this.reloadNow();
    this.#started = true;
    if (!isUrl(this.source)) this.#fileStamp = await fileStamp(this.source);
    const first = await this.reloadNow();
    if (!this.#started) return first; // stopped while loading
    const interval = this.#options.pollIntervalMs ?? 10_000;
    if (isUrl(this.source)) {
      if (interval > 0) this.#schedulePoll(interval);
    } else {
      if (this.#options.watchFile ?? true) this.#watch();
      if (interval > 0) this.#schedulePoll(interval);
    }
    return first;
  }

  stop(): void {
    this.#started = false;
    this.#watcher?.close();
    this.#watcher = undefined;
    clearTimeout(this.#debounce);
    clearTimeout(this.#poll);
  }

  /**
   * Checks the source now, unconditionally (no If-None-Match; a bundle refused before is judged again, say after
   * its key was fixed). Only a bundle identical to the serving one is skipped. Concurrent calls share one pending
   * reload that starts after the running one.
   */
  reloadNow(): Promise<ReloadResult> {
    this.#forceNext = true;
    return this.#schedule();
  }

  #schedule(): Promise<ReloadResult> {
    if (this.#running === undefined) return this.#run();
    this.#queued ??= this.#running.then(() => {
      this.#queued = undefined;
      return this.#run();
    });
    return this.#queued;
  }

  #run(): Promise<ReloadResult> {
    const force = this.#forceNext;
    this.#forceNext = false;
    const running = this.#attempt(force).finally(() => {
      if (this.#running === running) this.#running = undefined;
    });
    this.#running = running;
    return running;
  }

  async #attempt(force: boolean): Promise<ReloadResult> {
    const engine = this.#options.engine;
    let digest: string | undefined;
    try {
      const bundle = await this.#fetch(force, (seen) => (digest = seen));
      if (bundle === "unchanged") return { status: "unchanged", revision: engine.revision };
      const warmupInputs = [...(this.#options.warmupInputs ?? WARMUP_INPUTS), ...engine.recentInputs()];
      const prepared = await preparePolicy(bundle, { ...this.#options, warmupInputs });
      const previous = engine.swap(prepared);
      this.#refusedDigest = undefined;
      this.#stats.loads++;
      this.#stats.lastLoadAt = Date.now();
      this.#log.info(
        { revision: prepared.revision, previous: previous?.revision, signed: bundle.signature !== undefined, digest: bundle.digest.slice(0, 12) },
        "policy bundle loaded",
      );
      if (previous !== undefined) this.#options.onLoaded?.(prepared.revision);
      return { status: "loaded", revision: prepared.revision };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (digest !== undefined) this.#refusedDigest = digest;
      this.#stats.rejects++;
      this.#stats.lastError = message;
      this.#stats.lastErrorAt = Date.now();
      this.#log.error({ error: message, serving: engine.revision }, "policy bundle rejected; the previous policy keeps serving");
      return { status: "rejected", revision: engine.revision, error: message };
    }
  }

  /**
   * Reads the bundle unless nothing changed: HTTP 304, the serving bundle's bytes, or (unforced) the bytes refused
   * last time. Reports the archive digest before judging it. Throws PolicyBundleError.
   */
  async #fetch(force: boolean, seen: (digest: string) => void): Promise<LoadedBundle | "unchanged"> {
    const { verify, maxBytes } = this.#options;
    let archive: Uint8Array;
    if (isUrl(this.source)) {
      const downloaded = await this.#download(force);
      if (downloaded === "unchanged") return "unchanged";
      archive = downloaded;
    } else {
      archive = await readArchive(this.source, this.#name);
    }
    const digest = createHash("sha256").update(archive).digest("hex");
    seen(digest);
    if (digest === this.#options.engine.current?.digest) return "unchanged";
    if (!force && digest === this.#refusedDigest) return "unchanged";
    // The key file is read for each new bundle (mounted secrets rotate), not for each poll.
    const keys = verify === undefined ? undefined : await this.#keys(verify);
    return parseBundle(archive, this.#name, { verify, keys, maxBytes });
  }

  async #keys(verify: PolicyVerifyConfig) {
    try {
      return await loadVerificationKeys(verify);
    } catch (error) {
      throw new PolicyBundleError(this.#name, (error as Error).message, { cause: error });
    }
  }

  async #download(force: boolean): Promise<Uint8Array | "unchanged"> {
    const { url, headers } = bundleRequest(this.source);
    if (this.#etag !== undefined && !force) headers["if-none-match"] = this.#etag;
    let response: Response;
    try {
      response = await fetch(url, { headers, signal: AbortSignal.timeout(this.#options.fetchTimeoutMs ?? 10_000) });
    } catch (error) {
      throw new PolicyBundleError(this.#name, `fetch failed: ${describeFetchError(error, this.source)}`, { cause: error });
    }
    if (response.status === 304) {
      await response.body?.cancel();
      return "unchanged";
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new PolicyBundleError(this.#name, `HTTP ${response.status}`);
    }
    const body = await readBody(response, this.#options.maxBytes ?? 64 * 1024 * 1024, this.#name);
    // Remember the ETag of what was judged, accepted or refused: a refused bundle is not refetched every poll.
    this.#etag = response.headers.get("etag") ?? undefined;
    return body;
  }

  #schedulePoll(interval: number): void {
    this.#poll = setTimeout(() => {
      void this.#pollOnce().finally(() => {
        if (this.#started) this.#schedulePoll(interval);
      });
    }, interval);
    this.#poll.unref();
  }

  async #pollOnce(): Promise<void> {
    if (isUrl(this.source)) {
      await this.#schedule();
      return;
    }
    const stamp = await fileStamp(this.source);
    if (stamp !== this.#fileStamp) {
      this.#fileStamp = stamp;
      await this.#schedule();
    }
  }

  #watch(): void {
    const dir = path.dirname(path.resolve(this.source));
    try {
      this.#watcher = watch(dir, { persistent: false }, () => this.#onEvent());
      this.#watcher.on("error", (error) => {
        this.#log.warn({ error: error.message }, "bundle watch failed; polling only");
        this.#watcher?.close();
        this.#watcher = undefined;
      });
    } catch (error) {
      this.#log.warn({ error: (error as Error).message }, "cannot watch the bundle's directory; polling only");
    }
  }

  /** Any event in the directory (the file's name, a temp file renamed over it, Kubernetes' ..data swap) counts. */
  #onEvent(): void {
    clearTimeout(this.#debounce);
    this.#debounce = setTimeout(() => {
      if (!this.#started) return;
      void fileStamp(this.source).then((stamp) => {
        if (stamp === this.#fileStamp) return;
        this.#fileStamp = stamp;
        return this.#schedule();
      });
    }, this.#options.debounceMs ?? 200);
    this.#debounce.unref();
  }
}

async function fileStamp(file: string): Promise<string> {
  try {
    const info = await stat(file);
    return `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
  } catch (error) {
    return `missing:${(error as NodeJS.ErrnoException).code ?? ""}`;
  }
}

