// Runs test/interop/python_client.py (the official Python `mcp` SDK client) against an MCP endpoint and parses
// its one-line JSON report. Used by interop tests, directly against reference servers and through the gateway.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const pythonBinary = `${repoRoot}.tools/venv/bin/python`;
const clientScript = fileURLToPath(new URL("./python_client.py", import.meta.url));

export interface PythonClientReport {
  protocolVersion: string;
  serverName: string | null;
  tools: string[];
  /** The CallToolResult exactly as the Python SDK parsed it, dumped with wire (camelCase) names. */
  call: {
    content?: Array<{ type: string; text?: string; [key: string]: unknown }>;
    structuredContent?: Record<string, unknown>;
    isError?: boolean;
    [key: string]: unknown;
  };
}

export interface PythonClientOptions {
  /** Kill the client and reject after this long. Python startup alone is ~1 s on the build machines. */
  timeoutMs?: number;
}

/** Thrown when the client exits non-zero, times out, or prints something that is not a report. */
export class PythonClientError extends Error {
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(message: string, exitCode: number | null, stderr: string) {
    super(message);
    this.name = "PythonClientError";
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * Connects, initializes, lists every tool page, calls `tool` with `args`, and resolves with the report.
 * `env` is added to this process's environment: GATEHOUSE_TOKEN (bearer token), GATEHOUSE_PY_MODE
 * ("auto" | "legacy" | "2026-07-28"), GATEHOUSE_PY_TIMEOUT (seconds per request).
 */
export function runPythonClient(
  url: string,
  tool: string,
  args: Record<string, unknown>,
  env: Record<string, string> = {},
  options: PythonClientOptions = {},
): Promise<PythonClientReport> {
  // Below vitest's 30 s test timeout, so a hang surfaces as this error (with stderr) rather than a bare test timeout.
  const timeoutMs = options.timeoutMs ?? 25_000;
  if (!existsSync(pythonBinary)) {
    return Promise.reject(
      new PythonClientError(`${pythonBinary} is missing; run \`npm run setup\` to create the venv`, null, ""),
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(pythonBinary, [clientScript, url, tool, JSON.stringify(args)], {
      env: { ...process.env, PYTHONUNBUFFERED: "1", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);

    child.on("error", (error) => {
      clearTimeout(timer);
      reject(new PythonClientError(`could not start ${pythonBinary}: ${error.message}`, null, stderr));
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(new PythonClientError(`python client timed out after ${timeoutMs} ms`, code, stderr));
        return;
      }
      if (code !== 0) {
        reject(new PythonClientError(`python client exited ${code}: ${stderr.trim()}`, code, stderr));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as PythonClientReport);
      } catch {
        reject(new PythonClientError(`python client printed no JSON report: ${stdout.slice(0, 500)}`, code, stderr));
      }
    });
  });
}
