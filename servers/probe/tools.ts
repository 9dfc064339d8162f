// The probe tools. Annotations are honest because the gateway's policy reads them: whoami and connect only look,
// try_write changes the filesystem for a moment (and undoes it), crash ends the process.
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { registerConnectionProbeTool } from "../shared/connection-probe-tool.ts";
import { readSandboxFacts, sandboxFactsShape } from "./sandbox-facts.ts";
import { probeWrite } from "./write-probe.ts";

/** EX_SOFTWARE from sysexits.h: "internal software error", an honest name for a crash on purpose. */
export const DEFAULT_CRASH_EXIT_CODE = 70;

export function registerProbeTools(server: McpServer): void {
  server.registerTool(
    "whoami",
    {
      title: "Describe this process's sandbox",
      description:
        "Reports uid, gid, groups, hostname, pid, effective and bounding capabilities, no_new_privs, seccomp mode, " +
        "cgroup memory and pids limits, and whether / is mounted read-only. Unreadable facts are null.",
      annotations: { readOnlyHint: true, openWorldHint: false },
      outputSchema: sandboxFactsShape,
    },
    async () => {
      const facts = await readSandboxFacts();
      return { content: [{ type: "text", text: JSON.stringify(facts) }], structuredContent: { ...facts } };
    },
  );

  server.registerTool(
    "try_write",
    {
      title: "Try to write a file",
      description:
        "Tries to create a small new file at an absolute path, then removes it, and reports the outcome: written, " +
        "or the error code (EROFS, EACCES, ENOENT, EEXIST for a file that already exists, which is never touched).",
      inputSchema: {
        path: z
          .string()
          .min(1)
          .max(4096)
          .refine(isAbsolute, "path must be absolute")
          .describe("Absolute path of a file that does not exist yet"),
      },
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
      outputSchema: {
        path: z.string(),
        outcome: z.enum(["written", "error"]),
        code: z.string().optional(),
        message: z.string(),
      },
    },
    async ({ path }) => {
      const probe = await probeWrite(path);
      // A refused write is a successful probe: the caller asked what happens, and this is the answer.
      const summary = probe.outcome === "written" ? `written: ${probe.message}` : `error ${probe.code}: ${probe.message}`;
      return { content: [{ type: "text", text: summary }], structuredContent: { ...probe } };
    },
  );

  registerConnectionProbeTool(server, "connect", { title: "Probe a TCP connection", tcp: true });

  server.registerTool(
    "crash",
    {
      title: "Crash the server",
      description:
        "Exits the server process at once with the given exit code (default 70), without answering. For testing " +
        "how a client or gateway handles a backend that dies mid-request.",
      inputSchema: {
        exitCode: z.number().int().min(0).max(255).optional().describe("Process exit code (default 70)"),
      },
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    },
    async ({ exitCode }) => {
      const code = exitCode ?? DEFAULT_CRASH_EXIT_CODE;
      // stderr to a pipe or file is synchronous on Linux, so this line is out before the process is gone.
      console.error(`probe: crashing on request (exit code ${code})`);
      process.exit(code);
    },
  );
}
