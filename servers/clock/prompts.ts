import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { ErrorCode, McpError } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { parseZoneList, zonedTime } from "./time-zones.ts";

const MAX_ZONES = 24;

export function registerClockPrompts(server: McpServer): void {
  server.registerPrompt(
    "plan-meeting",
    {
      title: "Plan a meeting across time zones",
      description: "Asks the model for a meeting time that suits every zone; the current time in each is embedded.",
      argsSchema: {
        zones: z.string().min(1).max(2000).describe("Comma-separated IANA time zones, e.g. Europe/Paris, Asia/Tokyo"),
      },
    },
    async ({ zones: zoneList }) => {
      const { zones, unknown } = parseZoneList(zoneList);
      if (unknown.length) throw new McpError(ErrorCode.InvalidParams, `unknown time zones: ${unknown.join(", ")}`);
      if (zones.length === 0) throw new McpError(ErrorCode.InvalidParams, "no time zones given");
      if (zones.length > MAX_ZONES) throw new McpError(ErrorCode.InvalidParams, `at most ${MAX_ZONES} time zones`);
      const now = new Date();
      const clocks = zones.map((zone) => {
        const time = zonedTime(now, zone);
        return `- ${zone}: ${time.weekday} ${time.localTime.replace("T", " ")} (UTC${time.utcOffset})`;
      });
      return {
        description: `Plan a meeting across ${zones.join(", ")}`,
        messages: [
          {
            role: "user",
            content: {
              type: "text",
              text:
                `Find a one-hour meeting time in the next few working days that suits participants in ` +
                `${zones.join(", ")}. Prefer 09:00-17:00 local time for everyone; if that is impossible, say who ` +
                `is outside it and by how much. Give the proposal in every zone.\n\n` +
                `It is now (${now.toISOString()}):\n${clocks.join("\n")}`,
            },
          },
        ],
      };
    },
  );
}
