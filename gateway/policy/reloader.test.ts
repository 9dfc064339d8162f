import { copyFile, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { PolicyEngine } from "./engine.ts";
import { PolicyReloader } from "./reloader.ts";
import { createPolicyRuntime } from "./runtime.ts";
import { buildTestBundle, startBundleServer, tempDir, toolsCallInput, writeKeyPair, type BundleServer, type KeyFiles } from "./testing.ts";
import type { PolicyConfig } from "./types.ts";

/** r1 denies "nobody", r2 allows everyone: an outcome's allow tells which bundle answered. */
const DENY_REGO = `package gatehouse.authz

decision := {"allow": false, "reasons": ["closed"], "obligations": {}}
`;
const ALLOW_REGO = `package gatehouse.authz

decision := {"allow": true, "reasons": ["open"], "obligations": {}}
`;

let dir: string;
let cleanup: () => Promise<void>;
let r1: string;
let r2: string;
let r3: string;
let keys: KeyFiles;
let signedR1: string;
const stops: (() => void)[] = [];

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir("reloader"));
  keys = await writeKeyPair(dir, "reload");
  r1 = await buildTestBundle({ dir, name: "r1.tar.gz", revision: "r1", rego: DENY_REGO, data: {} });
  r2 = await buildTestBundle({ dir, name: "r2.tar.gz", revision: "r2", rego: ALLOW_REGO, data: {} });
  r3 = await buildTestBundle({ dir, name: "r3.tar.gz", revision: "r3", rego: DENY_REGO, data: { v: 3 } });
  signedR1 = await buildTestBundle({ dir, name: "signed-r1.tar.gz", revision: "r1", rego: DENY_REGO, data: {}, signingKey: keys.privatePem });
});
afterAll(() => cleanup());
afterEach(() => {
  for (const stop of stops.splice(0)) stop();
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Replaces a file the way editors and `mv` do: write a temp file, rename it over the target. */
async function replaceFile(target: string, from: string | Buffer): Promise<void> {
  const temp = `${target}.tmp-${Math.random().toString(36).slice(2)}`;
  if (typeof from === "string") await copyFile(from, temp);
  else await writeFile(temp, from);
  await rename(temp, target);
}

async function liveFile(name: string, from: string): Promise<string> {
  const file = path.join(dir, name);
  await copyFile(from, file);
  return file;
}

function reloader(options: Partial<ConstructorParameters<typeof PolicyReloader>[0]> & { source: string }): { engine: PolicyEngine; reloader: PolicyReloader } {
  const engine = options.engine ?? new PolicyEngine();
  const instance = new PolicyReloader({ pollIntervalMs: 0, debounceMs: 50, ...options, engine });
  stops.push(() => instance.stop());
  return { engine, reloader: instance };
}

describe("PolicyReloader with a file", () => {
  it("loads at start, picks up a renamed-in bundle through fs.watch, and keeps the old one on a corrupt update", async () => {
    const file = await liveFile("watched.tar.gz", r1);
    const { engine, reloader: watcher } = reloader({ source: file });
    expect(await watcher.start()).toEqual({ status: "loaded", revision: "r1" });
    expect(engine.evaluate({}).allow).toBe(false);

    await replaceFile(file, r2);
    await waitFor(() => engine.revision === "r2", "r2 via fs.watch");
    expect(engine.evaluate({})).toMatchObject({ allow: true, revision: "r2" });

    await replaceFile(file, Buffer.from("this is not a bundle"));
    await waitFor(() => watcher.stats().rejects === 1, "the corrupt bundle's rejection");
    expect(watcher.stats()).toMatchObject({ loads: 2, rejects: 1, revision: "r2", lastError: expect.stringMatching(/watched\.tar\.gz: not a gzip file$/) });
    expect(engine.evaluate({})).toMatchObject({ allow: true, revision: "r2", effect: "allow" });

    await replaceFile(file, r3);
    await waitFor(() => engine.revision === "r3", "r3 after the corrupt one");
    expect(watcher.stats()).toMatchObject({ loads: 3, rejects: 1, lastError: expect.stringMatching(/not a gzip file/) });
  });

  it("polls the file when watching is off, and skips identical bytes", async () => {
    const file = await liveFile("polled.tar.gz", r1);
    const { engine, reloader: poller } = reloader({ source: file, watchFile: false, pollIntervalMs: 50 });
    await poller.start();
    await replaceFile(file, r2);
    await waitFor(() => engine.revision === "r2", "r2 via polling");
    await replaceFile(file, r2); // new inode, same bytes
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(poller.stats()).toMatchObject({ loads: 2, rejects: 0 });
    expect(await poller.reloadNow()).toEqual({ status: "unchanged", revision: "r2" });
  });

  it("starts without the file (fail closed) and loads it when it appears", async () => {
    const file = path.join(dir, "late.tar.gz");
    const { engine, reloader: late } = reloader({ source: file });
    const first = await late.start();
    expect(first).toMatchObject({ status: "rejected", revision: undefined, error: expect.stringMatching(/late\.tar\.gz: file not found$/) });
    expect(engine.evaluate({})).toMatchObject({ allow: false, effect: "error" });
    await replaceFile(file, r2);
    await waitFor(() => engine.revision === "r2", "the late bundle");
  });

  it("with verify, refuses an unsigned update and keeps the signed bundle", async () => {
    const file = await liveFile("signed.tar.gz", signedR1);
    const { engine, reloader: strict } = reloader({ source: file, verify: { keyFile: keys.publicPem } });
    expect(await strict.start()).toMatchObject({ status: "loaded", revision: "r1" });
    await replaceFile(file, r2);
    await waitFor(() => strict.stats().rejects === 1, "the unsigned bundle's rejection");
    expect(strict.stats().lastError).toMatch(/unsigned bundle \(no \.signatures\.json\) but policy\.verify is set/);
    expect(engine.revision).toBe("r1");
    // polls do not judge the same refused bytes again; an explicit reloadNow does
    expect(await strict.reloadNow()).toMatchObject({ status: "rejected", revision: "r1" });
    expect(strict.stats().rejects).toBe(2);
  });

  it("swaps under continuous evaluation: no failed evaluation, every answer from one whole bundle", async () => {
    const file = await liveFile("busy.tar.gz", r1);
    const { engine, reloader: busy } = reloader({ source: file, watchFile: false });
    await busy.start();
    let running = true;
    const seen = { r1: 0, r2: 0, wrong: 0, errors: 0 };
    const load = (async () => {
      while (running) {
        for (let i = 0; i < 50; i++) {
          const outcome = engine.evaluate(toolsCallInput("nobody", "read_file"));
          if (outcome.effect === "error") seen.errors++;
          else if (outcome.revision === "r1" && !outcome.allow) seen.r1++;
          else if (outcome.revision === "r2" && outcome.allow) seen.r2++;
          else seen.wrong++;
        }
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    for (let i = 0; i < 6; i++) {
      await replaceFile(file, i % 2 === 0 ? r2 : r1);
      expect((await busy.reloadNow()).status).toBe("loaded");
    }
    running = false;
    await load;
    // a reload never holds the event loop for long (warm-up runs in ~2 ms slices)
    const delay = monitorEventLoopDelay({ resolution: 1 });
    await replaceFile(file, r3);
    delay.enable();
    expect((await busy.reloadNow()).status).toBe("loaded");
    delay.disable();
    expect(delay.max / 1e6).toBeLessThan(30);
    expect(seen.errors).toBe(0);
    expect(seen.wrong).toBe(0);
    expect(seen.r1).toBeGreaterThan(0);
    expect(seen.r2).toBeGreaterThan(0);
    expect(busy.stats().loads).toBe(8);
  });
});

describe("PolicyReloader with a URL", () => {
  let server: BundleServer;
  beforeAll(async () => {
    server = await startBundleServer();
  });
  afterAll(() => server.close());

  it("polls with If-None-Match, handles 304, loads a new ETag, and survives corrupt bundles and HTTP errors", async () => {
    await server.serveFile(r1);
    const { engine, reloader: poller } = reloader({ source: server.url, pollIntervalMs: 40 });
    expect(await poller.start()).toEqual({ status: "loaded", revision: "r1" });
    await waitFor(() => server.requests.filter((r) => r.status === 304).length >= 2, "two 304 answers");
    const etag = server.requests[0]?.ifNoneMatch;
    expect(etag).toBeUndefined(); // the first request is unconditional
    expect(server.requests.filter((r) => r.status === 304).every((r) => r.ifNoneMatch?.startsWith('"'))).toBe(true);
    expect(poller.stats()).toMatchObject({ loads: 1, rejects: 0 });

    await server.serveFile(r2);
    await waitFor(() => engine.revision === "r2", "r2 over HTTP");

    server.serve(Buffer.from("corrupt"));
    await waitFor(() => poller.stats().rejects === 1, "the corrupt download's rejection");
    const before = server.requests.length;
    await waitFor(() => server.requests.length >= before + 2, "more polls");
    // the refused bundle's ETag is remembered: later polls get 304 and do not count it again
    expect(server.requests.slice(before).every((r) => r.status === 304)).toBe(true);
    expect(poller.stats()).toMatchObject({ rejects: 1, revision: "r2", lastError: expect.stringMatching(/not a gzip file$/) });
    expect(engine.evaluate({}).allow).toBe(true);

    server.fail(503);
    await waitFor(() => poller.stats().rejects >= 2, "the 503");
    expect(poller.stats().lastError).toMatch(/: HTTP 503$/);
    expect(engine.revision).toBe("r2");

    await server.serveFile(r3);
    await waitFor(() => engine.revision === "r3", "r3 after the outage");
  });
});

describe("createPolicyRuntime", () => {
  it("runs the live and shadow bundles from the config block and reports both", async () => {
    const live = await liveFile("runtime-live.tar.gz", r1);
    const shadow = await liveFile("runtime-shadow.tar.gz", r2);
    const config: PolicyConfig = { bundle: live, shadow, mode: "dry-run", pollIntervalMs: 10_000, timeBudgetMs: 5, denyAs: "explicit" };
    const runtime = createPolicyRuntime(config, { debounceMs: 50 });
    stops.push(() => runtime.stop());
    expect(await runtime.start()).toEqual({ live: { status: "loaded", revision: "r1" }, shadow: { status: "loaded", revision: "r2" } });
    const outcome = runtime.evaluate(toolsCallInput("nobody", "read_file"));
    expect(outcome).toMatchObject({ allow: true, effect: "dry-run-deny", reasons: ["closed"], revision: "r1", shadow: { allow: true, disagrees: true, revision: "r2" } });
    await replaceFile(live, await readFile(r2));
    await waitFor(() => runtime.engine.revision === "r2", "the live bundle's reload");
    expect(runtime.evaluate({}).shadow?.disagrees).toBe(false);
    expect(runtime.stats()).toMatchObject({
      loads: 2,
      rejects: 0,
      revision: "r2",
      counters: { evaluations: 2, dryRunDenies: 1, shadowDisagreements: 1 },
      shadow: { loads: 1, revision: "r2" },
    });
    await rm(live);
    expect((await runtime.reloadNow()).live).toMatchObject({ status: "rejected", revision: "r2", error: expect.stringMatching(/file not found/) });
  });
});
