// The clock tools. countdown and sleep are slow on purpose: they give the gateway's progress forwarding,
// cancellation and timeout tests a backend that behaves predictably, and both stop as soon as they are cancelled.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { setTimeout as delay } from "node:timers/promises";
import { z } from "zod";
import { localTimeZone, resolveTimeZone, zonedTime, zonedTimeShape } from "./time-zones.ts";

const LAST_PROGRESS_PAUSE_MS = 50;

function text(value: string): CallToolResult {
  return { content: [{ type: "text", text: value }] };
}

/** Waits `ms`; resolves false as soon as `signal` aborts instead (the timer is cleared, nothing keeps running). */
export async function waitUnlessAborted(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

export function registerClockTools(server: McpServer): void {
  server.registerTool(
    "now",
    {
      title: "Current time",
      description:
        "The current time in UTC and on the wall clock of an IANA time zone (default: the server's own zone).",
      inputSchema: {
        timeZone: z.string().max(64).optional().describe("IANA time zone such as Europe/Paris or UTC"),
      },
      annotations: { readOnlyHint: true, openWorldHint: false },
      outputSchema: { utc: z.string(), epochMs: z.number(), ...zonedTimeShape },
    },
    async ({ timeZone }) => {
      const zone = resolveTimeZone(timeZone ?? localTimeZone());
      if (zone === undefined) {
        return { content: [{ type: "text", text: `unknown time zone: ${timeZone}` }], isError: true };
      }
      const date = new Date();
      const result = { utc: date.toISOString(), epochMs: date.getTime(), ...zonedTime(date, zone) };
      return { content: [{ type: "text", text: `${result.iso} (${zone}, ${result.weekday})` }], structuredContent: result };
    },
  );

  server.registerTool(
    "countdown",
    {
      title: "Count down",
      description:
        "Counts down `seconds` steps of `stepMs` each, sending a progress notification per step when the request " +
        "carries a progressToken, then answers done. Stops early when cancelled.",
      inputSchema: {
        seconds: z.number().int().min(1).max(60).describe("Number of steps, each standing for one second"),
        stepMs: z.number().int().min(10).max(5000).optional().describe("Real length of one step (default 1000)"),
      },
      annotations: { readOnlyHint: true, idempotentHint: true, openWorldHint: false },
    },
    async ({ seconds, stepMs }, extra) => {
      const progressToken = extra._meta?.progressToken;
      for (let done = 1; done <= seconds; done += 1) {
        if (!(await waitUnlessAborted(stepMs ?? 1000, extra.signal))) {
          console.error(`clock: countdown cancelled after ${done - 1} of ${seconds} steps`);
          return text(`cancelled with ${seconds - done + 1} s left`);
        }
        if (progressToken !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken, progress: done, total: seconds, message: `${seconds - done} s left` },
          });
        }
      }
      // SDK 1.x clients run notification handlers a microtask after responses: a last progress read in the same
      // chunk as the result reaches onprogress after the request's handler is gone. A short pause keeps them apart.
      if (progressToken !== undefined) await delay(LAST_PROGRESS_PAUSE_MS);
      return text("done");
    },
  );

  server.registerTool(
    "sleep",
    {
      title: "Sleep",
      description: "Waits `ms` milliseconds, then answers. Stops early when cancelled.",
      inputSchema: { ms: z.number().int().min(0).max(600_000).describe("How long to wait, in milliseconds") },
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    async ({ ms }, extra) => {
      const started = performance.now();
      if (await waitUnlessAborted(ms, extra.signal)) return text(`slept ${ms} ms`);
      const elapsed = Math.round(performance.now() - started);
      console.error(`clock: sleep of ${ms} ms cancelled after ${elapsed} ms`);
      return text(`cancelled after ${elapsed} ms`);
    },
  );
}
