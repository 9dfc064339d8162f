/** Real child processes for tests: backends in HTTP modes and the gatehouse CLI itself. Every wait is bounded. */
import { spawn, type ChildProcess } from "node:child_process";
import { ROOT } from "./gateway.ts";

export { freePort, startEverything, type RunningEverything } from "../fixtures/everything.ts";

export interface Child {
  process: ChildProcess;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnChild(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Child {
  const child = spawn(command, args, { cwd: options.cwd ?? ROOT, env: { ...process.env, ...options.env }, stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  return {
    process: child,
    output: () => output,
    stop(signal = "SIGTERM") {
      return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        const killer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        child.once("exit", (code) => {
          clearTimeout(killer);
          resolve(code);
        });
        child.kill(signal);
      });
    },
  };
}

export async function waitForOutput(child: Child, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const match = child.output().match(pattern);
    if (match) return match;
    if (child.process.exitCode !== null) throw new Error(`process exited (${child.process.exitCode}) before printing ${pattern}:\n${child.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; output so far:\n${child.output()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `gatehouse serve` as a real process; resolves once it prints its URL. */
export async function startGatehouseProcess(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ url: string; child: Child }> {
  const child = spawnChild(process.execPath, [`${ROOT}gateway/cli/main.ts`, "serve", "--port", "0", ...args], { env: { GATEHOUSE_LOG_LEVEL: "warn", ...env } });
  const match = await waitForOutput(child, /Gatehouse listening on (http:\/\/\S+)/);
  return { url: match[1]!, child };
}

/** test/fixtures/modern-server.ts (a 2026-07-28 server) as a real process, on `port` (0: any free one). */
export async function startModernServer(port = 0): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const child = spawnChild(process.execPath, [`${ROOT}test/fixtures/modern-server.ts`, "--port", String(port)]);
  const bound = Number((await waitForOutput(child, /listening (\d+)/, 15_000))[1]);
  return { url: `http://127.0.0.1:${bound}/mcp`, port: bound, stop: async () => void (await child.stop()) };
}
