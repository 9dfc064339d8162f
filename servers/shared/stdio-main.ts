// The process side every server shares: connect an McpServer to stdio and end the process cleanly.
// Logs go to stderr only: stdout belongs to the protocol.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";

/**
 * Serves `server` on stdin/stdout until SIGTERM, SIGINT or the end of stdin, then exits 0.
 * `name` prefixes the log lines; `detail` is appended to the ready line, e.g. "store: memory".
 */
export async function serveOverStdio(name: string, server: McpServer, detail?: string): Promise<void> {
  let shuttingDown = false;
  const shutdown = async (reason: string): Promise<void> => {
    if (shuttingDown) return;
    shuttingDown = true;
    console.error(`${name}: shutting down (${reason})`);
    await server.close().catch(() => undefined);
    process.exit(0);
  };

  // As PID 1 in a container, signals have no default action: without these handlers `docker stop` would wait
  // for its timeout and then SIGKILL.
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  process.once("SIGINT", () => void shutdown("SIGINT"));
  // The client closing our stdin is the normal end of a stdio session.
  process.stdin.once("end", () => void shutdown("stdin closed"));

  await server.connect(new StdioServerTransport());
  console.error(`${name}: ready on stdio${detail ? ` (${detail})` : ""}`);
}
