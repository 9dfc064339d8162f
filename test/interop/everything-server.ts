// Starts the reference @modelcontextprotocol/server-everything in Streamable HTTP mode on a free port.
// Shared by the interop tests (direct, and as a gateway backend).
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";

const entry = fileURLToPath(
  new URL("../../node_modules/@modelcontextprotocol/server-everything/dist/index.js", import.meta.url),
);

export interface EverythingServer {
  /** The MCP endpoint, http://127.0.0.1:PORT/mcp */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Asks the kernel for a free port. Another process could take it before we use it; tests accept that race. */
export function findFreePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, host, () => {
      const address = probe.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      probe.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
    });
  });
}

function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(force);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

export async function startEverythingServer(options: { readyTimeoutMs?: number } = {}): Promise<EverythingServer> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  const port = await findFreePort();
  const child = spawn(process.execPath, [entry, "streamableHttp"], {
    env: { ...process.env, PORT: String(port) },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  // The server announces readiness on stderr once express is listening.
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stopChild(child, 1000);
      reject(new Error(`server-everything not ready after ${readyTimeoutMs} ms: ${stderr}`));
    }, readyTimeoutMs);
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk;
      if (stderr.includes(`listening on port ${port}`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`server-everything exited early (${code}): ${stderr}`));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    close: () => stopChild(child, 3000),
  };
}
