// Assembles the probe McpServer: tools that report what this process can do from inside its sandbox, and the
// same whoami facts as a resource. Transport-agnostic: main.ts connects it to stdio.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { readSandboxFacts } from "./sandbox-facts.ts";
import { registerProbeTools } from "./tools.ts";

export const PROBE_SERVER_NAME = "gatehouse-probe";
export const PROBE_SERVER_VERSION = "0.1.0";
export const ENVIRONMENT_URI = "probe://environment";

export function createProbeServer(): McpServer {
  const server = new McpServer(
    { name: PROBE_SERVER_NAME, version: PROBE_SERVER_VERSION },
    {
      instructions:
        "Reports what this process can do from inside its sandbox: whoami, try_write, connect. crash ends it.",
      maxToolInputElements: 100,
    },
  );
  registerProbeTools(server);
  server.registerResource(
    "environment",
    ENVIRONMENT_URI,
    { title: "Sandbox facts", description: "The whoami facts as JSON", mimeType: "application/json" },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(await readSandboxFacts()) }],
    }),
  );
  return server;
}
