// Entry point: `node servers/clock/main.ts`, speaking MCP over stdio. The local zone comes from TZ (or
// /etc/localtime); without either, as in the container image, it is UTC.
import { serveOverStdio } from "../shared/stdio-main.ts";
import { createClockServer } from "./server.ts";
import { localTimeZone } from "./time-zones.ts";

await serveOverStdio("clock", createClockServer(), `local zone ${localTimeZone()}`);
