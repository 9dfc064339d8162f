/**
 * Operational logs (pino). Not the audit trail: that is its own append-only store.
 *
 * One root logger, created on first use. `serve --stdio` calls configureLogging({ fd: 2 }) before anything logs,
 * because stdout then carries the MCP protocol. Secrets never reach here: callers log names, not values, and the
 * redact list below is a seatbelt for the usual header spellings.
 */
import pino, { type Logger } from "pino";

export type { Logger };

let root: Logger | undefined;

export interface LoggingOptions {
  level?: string;
  /** 1 = stdout (default), 2 = stderr. */
  fd?: 1 | 2;
}

export function configureLogging(options: LoggingOptions = {}): Logger {
  root = pino(
    {
      name: "gatehouse",
      level: options.level ?? process.env.GATEHOUSE_LOG_LEVEL ?? (process.env.VITEST ? "silent" : "info"),
      redact: {
        paths: ["authorization", "headers.authorization", "*.headers.authorization", "token", "*.token", "env", "*.env"],
        censor: "[redacted]",
      },
    },
    pino.destination({ fd: options.fd ?? 1, sync: false }),
  );
  return root;
}

export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  root ??= configureLogging();
  return root.child({ component, ...bindings });
}
