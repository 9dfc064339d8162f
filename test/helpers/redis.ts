/**
 * A real redis-server for tests, on a loopback port of its own, with no persistence. `stop()` and `restart()`
 * let a test take it away and bring it back on the same port, as an outage would. Every wait is bounded.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../fixtures/everything.ts";

export interface RunningRedis {
  port: number;
  url: string;
  /** The running redis-server's pid (undefined while stopped). */
  readonly pid: number | undefined;
  stop(): Promise<void>;
  restart(): Promise<void>;
}

// One cleanup for all instances, so a crashed or interrupted test run leaves no redis-server behind. Vitest ends
// its worker processes with SIGTERM, which skips "exit" handlers: the signal is caught, cleaned up after, re-raised.
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
function cleanUp(): void {
  for (const child of live) child.kill("SIGKILL");
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
process.once("exit", cleanUp);
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"] as const) {
  process.once(signal, function reraise() {
    cleanUp();
    process.kill(process.pid, signal);
  });
}

const READY_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

export async function startRedis(): Promise<RunningRedis> {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-redis-"));
  dirs.add(dir);
  let child: ChildProcess | undefined;
  let port = 0;
  let lastFailure = "";
  // freePort() releases the port before redis binds it, so another process can win the race: try a few.
  for (let attempt = 0; attempt < PORT_ATTEMPTS && child === undefined; attempt++) {
    port = await freePort();
    const started = await launch(port, dir);
    if (typeof started === "string") lastFailure = started;
    else child = started;
  }
  if (child === undefined) throw new Error(`redis-server did not start after ${PORT_ATTEMPTS} ports: ${lastFailure}`);

  let current: ChildProcess | undefined = child;
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return current?.pid;
    },
    async stop() {
      if (current !== undefined) await kill(current);
      current = undefined;
      rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      if (current !== undefined) await kill(current);
      current = undefined;
      mkdirSync(dir, { recursive: true });
      // The port was just ours; only a straggling socket or a quick thief keeps it, so retry briefly.
      for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
        const started = await launch(port, dir);
        if (typeof started !== "string") {
          current = started;
          return;
        }
        lastFailure = started;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(`redis-server did not restart on port ${port}: ${lastFailure}`);
    },
  };
}

/** Resolves with the running child once it answers PING, or with the reason it did not. */
async function launch(port: number, dir: string): Promise<ChildProcess | string> {
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", dir, "--daemonize", "no"];
  const child = spawn("redis-server", args, { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  let spawnError: Error | undefined;
  child.once("error", (err) => (spawnError = err));
  child.once("exit", () => live.delete(child));

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (spawnError !== undefined) return `cannot run redis-server (${spawnError.message}); run scripts/setup.sh`;
    if (child.exitCode !== null || child.signalCode !== null) return `exited (${child.exitCode ?? child.signalCode}): ${output.trim()}`;
    // The log line proves this child owns the port (not some other server answering PING there).
    if (/Ready to accept connections/.test(output) && (await answersPing(port))) return child;
    if (Date.now() > deadline) {
      await kill(child);
      return `no PONG within ${READY_TIMEOUT_MS} ms: ${output.trim()}`;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      reply += d;
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
  });
}

function kill(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
