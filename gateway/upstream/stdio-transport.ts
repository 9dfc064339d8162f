/**
 * A backend as a child process speaking newline-delimited JSON-RPC on stdin/stdout (MCP stdio transport).
 *
 * The child leads its own process group (detached on POSIX), so one kill(-pid) reaches whatever it spawned
 * (`npx`, `sh -c`, uvx wrappers). Every live group is SIGKILLed synchronously on the gateway's 'exit', so a
 * crashing gateway leaves no orphans behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { isAbsolute, resolve } from "node:path";
import { LineDecoder, encodeLine, type JsonRpcMessage } from "../protocol/index.ts";
import type { Logger } from "../log.ts";
import { TransportClosedError, noop, type TransportClosed, type UpstreamTransport } from "./transport.ts";

/** Inherited from the gateway because programs need them to run at all; nothing else leaks (tokens, cloud keys). */
const INHERITED_ENV =
  process.platform === "win32"
    ? ["APPDATA", "HOMEDRIVE", "HOMEPATH", "LOCALAPPDATA", "PATH", "PATHEXT", "PROCESSOR_ARCHITECTURE", "SystemDrive",
       "SystemRoot", "TEMP", "TMP", "USERNAME", "USERPROFILE", "PROGRAMFILES", "ComSpec", "windir"]
    : ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"];

const STOP_GRACE_MS = 2_000;
const MAX_STDERR_LINE = 4_096;
const LOOKS_BAD = /\b(error|fatal|exception|panic|warn(ing)?|traceback)\b/i;

export function childEnvironment(extra: Record<string, string>, source: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of INHERITED_ENV) {
    const value = source[key];
    // Exported bash functions ("() { ... }") are a known injection vector (Shellshock); never pass them on.
    if (value !== undefined && !value.startsWith("()")) env[key] = value;
  }
  return { ...env, ...extra };
}

const liveGroups = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; process.kill is.
  process.on("exit", () => {
    for (const child of liveGroups) killGroup(child, "SIGKILL");
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    if (process.platform === "win32") child.kill(signal);
    else process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/** A program to run, fully resolved: what the transport spawns. */
export interface ProcessLaunch {
  command: string;
  args: string[];
  /** The child's whole environment. */
  env: Record<string, string>;
  cwd: string;
  /** stderr lines that are expected noise (an engine CLI remarking that its container ended): logged at debug. */
  benignStderr?: RegExp;
}

/** A stdio server's settings as a launch: `node` is the gateway's own Node, cwd resolves against the config. */
export function stdioLaunch(config: { command: string; args: string[]; env: Record<string, string>; cwd?: string | undefined }, configDir: string): ProcessLaunch {
  return {
    command: config.command === "node" ? process.execPath : config.command,
    args: config.args,
    env: childEnvironment(config.env),
    cwd: config.cwd === undefined ? configDir : isAbsolute(config.cwd) ? config.cwd : resolve(configDir, config.cwd),
  };
}

export class StdioTransport implements UpstreamTransport {
  onmessage: UpstreamTransport["onmessage"] = noop;
  onclose: UpstreamTransport["onclose"] = noop;

  private readonly launch: ProcessLaunch;
  private readonly log: Logger;
  private child: ChildProcess | undefined;
  private closedInfo: TransportClosed | undefined;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();
  /** The last thing the program said on stderr: the best explanation when it exits before answering. */
  lastStderrLine: string | undefined;
  /** Set once the program has exited with a code (not by a signal). */
  exitCode: number | undefined;

  constructor(launch: ProcessLaunch, log: Logger) {
    this.launch = launch;
    this.log = log;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): Promise<void> {
    const { launch } = this;
    installExitHook();
    const child = spawn(launch.command, launch.args, {
      cwd: launch.cwd,
      env: launch.env,
      stdio: ["pipe", "pipe", "pipe"],
      detached: process.platform !== "win32",
      windowsHide: true,
    });
    this.child = child;
    liveGroups.add(child);

    const decoder = new LineDecoder(
      (value) => this.onmessage(value),
      (line, error) => this.log.warn({ line, err: error.message }, "backend wrote a non-JSON line to stdout"),
    );
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => decoder.push(chunk));
    const stderrLines = new LineSplitter((line) => this.logStderr(line));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderrLines.push(chunk));
    // EPIPE when the child dies with writes queued; the 'exit' path reports the real cause.
    child.stdin!.on("error", (error) => this.log.debug({ err: error.message }, "backend stdin error"));

    this.exited = new Promise((resolveExit) => {
      child.once("close", (code, signal) => {
        liveGroups.delete(child);
        stderrLines.flush();
        if (code !== null) this.exitCode = code;
        resolveExit();
        this.finish(signal !== null ? { summary: `exited (signal ${signal})`, cause: `signal ${signal}` } : { summary: `exited (code ${code})`, cause: `exit code ${code}` });
      });
      // The group may outlive its leader (a wrapper's children); take it down with the leader.
      child.once("exit", () => killGroup(child, "SIGKILL"));
    });

    return new Promise((resolveStart, rejectStart) => {
      child.once("spawn", () => {
        this.log.info({ pid: child.pid, command: launch.command }, "backend process started");
        resolveStart();
      });
      child.once("error", (error) => {
        if (child.pid !== undefined) {
          this.log.warn({ err: error.message }, "backend process error");
          return;
        }
        liveGroups.delete(child);
        const code = (error as NodeJS.ErrnoException).code ?? error.message;
        this.closedInfo = { summary: `could not be started (${code})`, cause: `spawn error ${code}` };
        rejectStart(new TransportClosedError(this.closedInfo));
      });
    });
  }

  send(message: JsonRpcMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (this.closedInfo !== undefined || stdin == null || !stdin.writable) {
      return Promise.reject(new TransportClosedError(this.closedInfo ?? { summary: "is not running", cause: "not running" }));
    }
    // No await on 'drain': Node queues the write, and a backend too slow to read is caught by call timeouts.
    stdin.write(encodeLine(message));
    return Promise.resolve();
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child === undefined || this.stopping) return this.exited;
    this.stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.stdin?.end();
      killGroup(child, "SIGTERM");
      const force = setTimeout(() => killGroup(child, "SIGKILL"), STOP_GRACE_MS);
      force.unref();
      await this.exited;
      clearTimeout(force);
    }
    await this.exited;
  }

  private finish(closed: TransportClosed): void {
    if (this.closedInfo !== undefined) return;
    this.closedInfo = closed;
    if (this.stopping) return;
    this.log.warn({ cause: closed.cause }, "backend process exited");
    this.onclose(closed);
  }

  private logStderr(line: string): void {
    const text = line.length > MAX_STDERR_LINE ? `${line.slice(0, MAX_STDERR_LINE)}…` : line;
    if (this.launch.benignStderr?.test(text)) {
      this.log.debug({ stderr: text }, "backend stderr");
      return;
    }
    this.lastStderrLine = text;
    if (LOOKS_BAD.test(text)) this.log.warn({ stderr: text }, "backend stderr");
    else this.log.info({ stderr: text }, "backend stderr");
  }
}

/** Plain-text line splitting for stderr (LineDecoder parses JSON, which stderr is not). */
class LineSplitter {
  private buffered = "";
  private readonly onLine: (line: string) => void;

  constructor(onLine: (line: string) => void) {
    this.onLine = onLine;
  }

  push(chunk: string): void {
    const lines = (this.buffered + chunk).split(/\r?\n/);
    this.buffered = lines.pop() ?? "";
    // A child that never prints a newline must not grow this buffer without bound.
    if (this.buffered.length > MAX_STDERR_LINE * 4) {
      lines.push(this.buffered);
      this.buffered = "";
    }
    for (const line of lines) if (line.trim() !== "") this.onLine(line);
  }

  flush(): void {
    if (this.buffered.trim() !== "") this.onLine(this.buffered);
    this.buffered = "";
  }
}
