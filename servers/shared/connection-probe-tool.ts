// The TCP connection probe as an MCP tool: notes ships it as `fetch_url` (http/ws URLs), probe as `connect`
// (also tcp://host:port). One registration, so both answer alike.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import { connectionProbeShape, describeProbe, probeConnection } from "./connection-probe.ts";

const DESCRIPTION =
  "Tries to open a TCP connection to the URL's host and port and reports the outcome (connected, or the " +
  "error code such as ENOTFOUND, EAI_AGAIN, ENETUNREACH, ECONNREFUSED, ETIMEDOUT). Sends no data.";

export function registerConnectionProbeTool(server: McpServer, name: string, options: { title: string; tcp: boolean }): void {
  const protocol = options.tcp ? /^(https?|wss?|tcp)$/ : /^(https?|wss?)$/;
  server.registerTool(
    name,
    {
      title: options.title,
      description: options.tcp ? `${DESCRIPTION} tcp://host:port names any port; http(s) and ws(s) default to 80 and 443.` : DESCRIPTION,
      inputSchema: {
        url: z.url({ protocol }).describe(options.tcp ? "tcp://host:port, or an http(s) or ws(s) URL" : "An http(s) or ws(s) URL"),
        timeoutMs: z.number().int().min(100).max(30_000).optional().describe("Give up after this long (default 5000)"),
      },
      annotations: { readOnlyHint: true, openWorldHint: true },
      outputSchema: connectionProbeShape,
    },
    async ({ url, timeoutMs }) => {
      const probe = await probeConnection(url, timeoutMs ?? 5000);
      // A failed connection is a successful probe: the caller asked what happens, and this is the answer.
      return { content: [{ type: "text", text: describeProbe(probe) }], structuredContent: { ...probe } };
    },
  );
}
