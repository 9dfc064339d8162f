/**
 * Operational logs (pino). Not the audit trail: that is its own append-only store.
 *
 * Modules take their logger when they load, before the CLI knows where logs belong. So the root logger writes
 * through a switchable destination: `serve --stdio` calls configureLogging({ fd: 2 }) and every logger, old or
 * new, moves to stderr, because stdout then carries the MCP protocol. Secrets never reach here: callers log names,
 * not values, and the redact list below is a seatbelt for the usual header spellings.
 */
import pino, { type DestinationStream, type Logger } from "pino";

export type { Logger };

export interface LoggingOptions {
  /** Applies to loggers created after the first configureLogging/logger call only through GATEHOUSE_LOG_LEVEL. */
  level?: string;
  /** 1 = stdout (default), 2 = stderr. */
  fd?: 1 | 2;
}

const streams = new Map<number, DestinationStream>();
let current: DestinationStream | undefined;
const switchable: DestinationStream = { write: (line: string) => void (current ??= streamFor(1)).write(line) };
let root: Logger | undefined;

function streamFor(fd: 1 | 2): DestinationStream {
  let stream = streams.get(fd);
  if (stream === undefined) {
    stream = pino.destination({ fd, sync: false });
    streams.set(fd, stream);
  }
  return stream;
}

function createRoot(level: string | undefined): Logger {
  return pino(
    {
      name: "gatehouse",
      level: level ?? process.env.GATEHOUSE_LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info"),
      redact: {
        paths: ["authorization", "headers.authorization", "*.headers.authorization", "token", "*.token", "env", "*.env"],
        censor: "[redacted]",
      },
    },
    switchable,
  );
}

export function configureLogging(options: LoggingOptions = {}): Logger {
  current = streamFor(options.fd ?? 1);
  root ??= createRoot(options.level);
  if (options.level !== undefined) root.level = options.level;
  return root;
}

export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  root ??= createRoot(undefined);
  return root.child({ component, ...bindings });
}

/** A Redis URL as logs and errors may show it: host:port only, since the URL can carry a password. */
export function redisTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname || "127.0.0.1"}:${parsed.port || "6379"}`;
  } catch {
    return "redis";
  }
}
