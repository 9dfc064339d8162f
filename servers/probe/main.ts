// Entry point: `node servers/probe/main.ts`, speaking MCP over stdio. No configuration: it reports on whatever
// sandbox it was started in.
import { serveOverStdio } from "../shared/stdio-main.ts";
import { createProbeServer } from "./server.ts";

await serveOverStdio("probe", createProbeServer(), `uid ${process.getuid?.() ?? "n/a"}`);
