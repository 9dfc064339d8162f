// Assembles the clock McpServer: time tools (two of them slow on purpose, with progress and cancellation), zone
// resources and a prompt. Transport-agnostic: main.ts connects it to stdio.
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { registerClockPrompts } from "./prompts.ts";
import { registerClockResources } from "./resources.ts";
import { registerClockTools } from "./tools.ts";

export const CLOCK_SERVER_NAME = "gatehouse-clock";
export const CLOCK_SERVER_VERSION = "0.1.0";

export function createClockServer(): McpServer {
  const server = new McpServer(
    { name: CLOCK_SERVER_NAME, version: CLOCK_SERVER_VERSION },
    {
      instructions: "Time in IANA zones. Read clock://zone/{name} with the name URL-encoded (Europe%2FParis).",
      maxToolInputElements: 100,
    },
  );
  registerClockTools(server);
  registerClockResources(server);
  registerClockPrompts(server);
  return server;
}
