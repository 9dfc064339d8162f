import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ErrorCode, JsonRpcError, type JsonObject } from "../protocol/index.ts";
import type { StdioServerConfig } from "../config/schema.ts";
import { createBackend, type Backend, type BackendOptions } from "./index.ts";
import { RecordingHooks, firstText, isAlive, waitFor } from "./testing.ts";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const fixture = `${repoRoot}/test/fixtures/flaky-server.ts`;

const started: Backend[] = [];

function flaky(hooks: RecordingHooks, config: Partial<StdioServerConfig> = {}, options: Partial<BackendOptions> = {}): Backend {
  const backend = createBackend(
    { name: "flaky", transport: "stdio", command: "node", args: [fixture], env: {}, timeoutMs: 5_000, required: true, identity: "none", roots: false, ...config },
    hooks,
    { configDir: repoRoot, backoff: { baseMs: 10, capMs: 100 }, ...options },
  );
  started.push(backend);
  return backend;
}

const call = (backend: Backend, name: string, args: JsonObject = {}, options: Parameters<Backend["request"]>[2] = {}) =>
  backend.request("tools/call", { name, arguments: args }, options);

async function rejection(promise: Promise<unknown>): Promise<JsonRpcError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(JsonRpcError);
  return error as JsonRpcError;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((backend) => backend.stop()));
});

describe("stdio backend, shared fixture", () => {
  const hooks = new RecordingHooks();
  let backend: Backend;

  beforeAll(async () => {
    backend = createBackend(
      { name: "flaky", transport: "stdio", command: "node", args: [fixture, "--resources", "--name", "shared"], env: {}, timeoutMs: 5_000, required: true, identity: "none", roots: false },
      hooks,
      { configDir: repoRoot },
    );
    await backend.start();
  });
  afterAll(() => backend.stop());

  it("initializes and exposes what the server declared", () => {
    expect(backend.state).toBe("ready");
    expect(backend.protocolVersion).toBe("2025-11-25");
    expect(backend.serverInfo?.name).toBe("shared");
    expect(backend.instructions).toContain("test fixture");
    expect(backend.capabilities?.tools).toEqual({ listChanged: true });
    expect(backend.catalog.tools.map((tool) => tool.name)).toContain("echo");
    expect(backend.catalog.resources.map((resource) => resource.uri)).toEqual(["fixture://a", "fixture://b"]);
    expect(backend.catalog.resourceTemplates.map((template) => template.uriTemplate)).toEqual(["fixture://item/{id}"]);
    expect(backend.catalog.prompts.map((prompt) => prompt.name)).toEqual(["greet"]);
    expect(hooks.states.map((entry) => entry.state)).toEqual(["starting", "ready"]);
  });

  it("answers calls and passes backend errors through unchanged", async () => {
    expect(firstText(await call(backend, "echo", { text: "hi" }))).toBe("hi");
    const error = await rejection(backend.request("nope/nothing", {}));
    expect(error.code).toBe(ErrorCode.MethodNotFound);
    expect(error.message).toContain("Method not found");
  });

  it("times out a call that never answers, and tells the backend", async () => {
    const error = await rejection(call(backend, "hang", {}, { timeoutMs: 150 }));
    expect(error.code).toBe(ErrorCode.BackendTimeout);
    expect(error.message).toBe('server "flaky" did not answer tools/call within 150 ms');
    const cancellations = JSON.parse(firstText(await call(backend, "cancellations"))) as Array<{ reason: string }>;
    expect(cancellations.some((entry) => String(entry.reason).includes("timed out after 150 ms"))).toBe(true);
  });

  it("cancels upstream when the caller aborts", async () => {
    const controller = new AbortController();
    const pending = call(backend, "hang", {}, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    const error = await rejection(pending);
    expect(error.code).toBe(ErrorCode.Cancelled);
    expect(error.message).toContain('server "flaky"');
    // The backend saw notifications/cancelled: its handler's signal fired with our reason.
    const cancellations = JSON.parse(firstText(await call(backend, "cancellations"))) as Array<{ reason: string }>;
    expect(cancellations.some((entry) => String(entry.reason).includes("the client cancelled the request"))).toBe(true);
    // An already aborted signal rejects without a round trip.
    expect((await rejection(call(backend, "echo", { text: "x" }, { signal: AbortSignal.abort() }))).code).toBe(ErrorCode.Cancelled);
  });

  it("lets progress keep a slow call alive, and only progress for its own token", async () => {
    const owner = { sessionId: "progress-owner" };
    const result = await backend.request(
      "tools/call",
      { name: "slow", arguments: { ms: 600, steps: 6 }, _meta: { progressToken: "p-1" } },
      { timeoutMs: 250, owner },
    );
    expect(firstText(result)).toBe("done");
    const progress = hooks.notifications.filter((entry) => entry.message.params?.progressToken === "p-1");
    expect(progress).toHaveLength(6);
    // stdio cannot relate messages to requests, but a progress token held by one call can.
    expect(progress.every((entry) => entry.owner === owner)).toBe(true);

    const withoutProgress = await rejection(call(backend, "slow", { ms: 600, steps: 6 }, { timeoutMs: 250 }));
    expect(withoutProgress.code).toBe(ErrorCode.BackendTimeout);
  });

  it("caps how far progress can extend a call at ten timeouts", async () => {
    const began = Date.now();
    const error = await rejection(
      backend.request("tools/call", { name: "slow", arguments: { ms: 3_000, steps: 150 }, _meta: { progressToken: "p-cap" } }, { timeoutMs: 40 }),
    );
    expect(error.code).toBe(ErrorCode.BackendTimeout);
    expect(error.message).toContain("within 400 ms");
    expect(Date.now() - began).toBeLessThan(1_500);
  });

  it("hands server requests the owners of the calls in flight, deduplicated", async () => {
    const a = { sessionId: "A" };
    const b = { sessionId: "B" };
    const before = hooks.serverRequests.length;
    const release = waitFor(() => hooks.serverRequests.length >= before + 2, "two sampling requests");
    hooks.answer = async (record) => {
      await release;
      return { role: "assistant", model: "m", content: { type: "text", text: `for ${record.owners.map((o) => o.sessionId).sort().join("+")}` } };
    };
    const slowA = call(backend, "slow", { ms: 300 }, { owner: a });
    const [fromA, fromB] = await Promise.all([
      call(backend, "sample", { prompt: "a" }, { owner: a }),
      call(backend, "sample", { prompt: "b" }, { owner: b }),
    ]);
    await slowA;
    expect(firstText(fromA)).toBe("for A+B");
    expect(firstText(fromB)).toBe("for A+B");
    const sampling = hooks.serverRequests.slice(before);
    expect(sampling.map((record) => record.message.method)).toEqual(["sampling/createMessage", "sampling/createMessage"]);
  });

  it.each([
    { name: "a JsonRpcError", thrown: new JsonRpcError(-32042, "user declined"), code: -32042, expected: "user declined" },
    { name: "any other error", thrown: new Error("secret internals"), code: ErrorCode.InternalError, expected: "internal gateway error" },
  ])("answers the backend with an error when the hook rejects with $name", async ({ thrown, code, expected }) => {
    hooks.answer = () => Promise.reject(thrown);
    // The fixture's tool lets the error it got from the client propagate, so its code and message come back to us.
    const error = await rejection(call(backend, "sample", { prompt: "x" }));
    expect(error.code).toBe(code);
    expect(error.message).toContain(expected);
    expect(error.message).not.toContain("secret internals");
  });

  it("aborts the hook's signal when the backend cancels its own request", async () => {
    let aborted: Promise<unknown> | undefined;
    hooks.answer = (record) => {
      aborted = new Promise((resolve) => record.signal.addEventListener("abort", () => resolve(record.signal.reason)));
      return new Promise(() => undefined);
    };
    // The SDK gives up on its sampling request after 100 ms and sends notifications/cancelled for it.
    const error = await rejection(call(backend, "sample", { prompt: "x", timeoutMs: 100 }));
    expect(error.message).toContain("timed out");
    await waitFor(() => aborted, "the sampling hook to be called");
    await expect(aborted).resolves.toBeDefined();
  });

  it("relays elicitation and roots, and answers pings itself", async () => {
    hooks.answer = (record) =>
      record.message.method === "roots/list"
        ? { roots: [{ uri: "file:///work", name: "work" }] }
        : { action: "accept", content: { answer: "yes" } };
    const before = hooks.serverRequests.length;
    expect(JSON.parse(firstText(await call(backend, "elicit", { message: "ok?" })))).toEqual({ action: "accept", content: { answer: "yes" } });
    expect(JSON.parse(firstText(await call(backend, "roots")))).toEqual({ roots: [{ uri: "file:///work", name: "work" }] });
    expect(firstText(await call(backend, "ping-client"))).toBe("pong");
    expect(hooks.serverRequests.slice(before).map((record) => record.message.method)).toEqual(["elicitation/create", "roots/list"]);
  });

  it("forwards other notifications without an owner", async () => {
    await call(backend, "log", { level: "warning", text: "careful" }, { owner: { sessionId: "L" } });
    const log = await waitFor(() => hooks.notifications.find((entry) => entry.message.params?.data === "careful"), "the log notification");
    expect(log.message.method).toBe("notifications/message");
    expect(log.owner).toBeUndefined();
  });
});

describe("stdio backend lifecycle", () => {
  it("follows pagination for every list", async () => {
    const backend = flaky(new RecordingHooks(), { args: [fixture, "--page-size", "2", "--tools", "7", "--resources"] });
    await backend.start();
    const names = backend.catalog.tools.map((tool) => tool.name);
    expect(names).toHaveLength(13 + 7);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain("t6");
    expect(backend.catalog.resources).toHaveLength(2);
    expect(backend.catalog.resourceTemplates).toHaveLength(1);
  });

  it("refetches on list_changed and reports only real changes", async () => {
    const hooks = new RecordingHooks();
    const backend = flaky(hooks);
    await backend.start();
    expect(hooks.catalogChanges).toEqual([["tools"]]);
    await call(backend, "add-tool", { name: "fresh" });
    await waitFor(() => backend.catalog.tools.some((tool) => tool.name === "fresh"), "the new tool in the catalog");
    expect(hooks.catalogChanges).toEqual([["tools"], ["tools"]]);
    expect(firstText(await call(backend, "fresh", { text: "new" }))).toBe("new");
  });

  it("rejects in-flight calls when the child crashes, then restarts it", async () => {
    const hooks = new RecordingHooks();
    const backend = flaky(hooks, {}, { backoff: { baseMs: 300, random: () => 1 } });
    await backend.start();
    const firstPid = JSON.parse(firstText(await call(backend, "process-info"))).pid as number;

    const crashed = await rejection(call(backend, "crash"));
    expect(crashed.code).toBe(ErrorCode.BackendClosed);
    expect(crashed.message).toBe('server "flaky" exited (code 1) before answering tools/call');
    expect(backend.state).toBe("restarting");
    const meanwhile = await rejection(call(backend, "echo", { text: "too early" }));
    expect(meanwhile.code).toBe(ErrorCode.BackendUnavailable);
    expect(meanwhile.message).toBe('server "flaky" is unavailable: restarting after exit code 1');

    await waitFor(() => backend.state === "ready", "the restart");
    expect(firstText(await call(backend, "echo", { text: "back" }))).toBe("back");
    expect(JSON.parse(firstText(await call(backend, "process-info"))).pid).not.toBe(firstPid);
    expect(hooks.states.map((entry) => entry.state)).toEqual(["starting", "ready", "restarting", "ready"]);
    expect(hooks.states[2]?.detail).toBe("restarting after exit code 1");
    // Same catalog after the restart: nothing to report beyond the first fetch.
    expect(hooks.catalogChanges).toEqual([["tools"]]);
  });

  it("stop() leaves no process behind, even one a wrapper spawned", async () => {
    const direct = flaky(new RecordingHooks());
    const wrapped = flaky(new RecordingHooks(), { command: "sh", args: ["-c", `"${process.execPath}" "${fixture}"; exit 0`] });
    await Promise.all([direct.start(), wrapped.start()]);
    const infos = await Promise.all([direct, wrapped].map(async (backend) => JSON.parse(firstText(await call(backend, "process-info"))) as { pid: number; ppid: number }));
    const pids = infos.map((info) => info.pid);
    expect(pids.every(isAlive)).toBe(true);
    // The wrapped server is a grandchild: only a process-group kill reaches it.
    expect(infos[0]?.ppid).toBe(process.pid);
    expect(infos[1]?.ppid).not.toBe(process.pid);
    await Promise.all([direct.stop(), wrapped.stop()]);
    // The grandchild gets the group's SIGKILL but is not waited on (it is not our child): on a loaded machine it
    // may take a moment to be gone, so the check is bounded rather than instant.
    await waitFor(() => pids.every((pid) => !isAlive(pid)), "both servers to be gone", 5_000);
    expect(pids.map(isAlive)).toEqual([false, false]);
    expect(direct.state).toBe("stopped");
    const after = await rejection(call(direct, "echo", { text: "x" }));
    expect(after.message).toBe('server "flaky" is unavailable: stopped');
  });

  it("gives the child only a safe environment plus its configured env, in the configured cwd", async () => {
    process.env.GATEHOUSE_TEST_SECRET = "do-not-leak";
    try {
      const backend = flaky(new RecordingHooks(), { env: { FIXTURE_FLAG: "on" }, cwd: "test/fixtures" });
      await backend.start();
      const info = JSON.parse(firstText(await call(backend, "process-info"))) as { cwd: string; env: Record<string, string> };
      expect(info.cwd).toBe(`${repoRoot}/test/fixtures`);
      expect(info.env.FIXTURE_FLAG).toBe("on");
      expect(info.env.PATH).toBe(process.env.PATH);
      expect(info.env.GATEHOUSE_TEST_SECRET).toBeUndefined();
    } finally {
      delete process.env.GATEHOUSE_TEST_SECRET;
    }
  });

  it("reports a command that cannot start, and keeps retrying until stopped", async () => {
    const hooks = new RecordingHooks();
    const backend = flaky(hooks, { command: "/nonexistent/gatehouse-backend" });
    expect((await rejection(call(backend, "echo"))).message).toBe('server "flaky" is unavailable: not started');
    const error = await rejection(backend.start());
    expect(error.code).toBe(ErrorCode.BackendUnavailable);
    expect(error.message).toBe('server "flaky" failed to start: spawn error ENOENT');
    expect(backend.state).toBe("restarting");
    expect((await rejection(call(backend, "echo"))).message).toBe('server "flaky" is unavailable: restarting after spawn error ENOENT');
    await backend.stop();
    expect(hooks.states.at(-1)?.state).toBe("stopped");
  });

  it("kills its children when the gateway process exits", async () => {
    const script = `${repoRoot}/test/fixtures/exit-with-backend.ts`;
    const child = spawn(process.execPath, [script, fixture], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code).toBe(0);
    const pid = Number(/backend-pid (\d+)/.exec(output)?.[1]);
    expect(pid).toBeGreaterThan(0);
    await waitFor(() => !isAlive(pid), `backend pid ${pid} to be gone`, 2_000);
  });
});
