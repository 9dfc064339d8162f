/** `gatehouse serve`: load config, start backends, serve /mcp over HTTP (or MCP over stdio), reload, drain. */
import { watch, type FSWatcher } from "node:fs";
import { parseArgs } from "node:util";
import { serve as serveHttp } from "@hono/node-server";
import type { Server } from "node:http";
import { loadConfigFile, loadDefaultConfig, type ResolvedConfig } from "../config/index.ts";
import { Gateway, GatewayConfigError } from "../gateway.ts";
import { configureLogging, logger } from "../log.ts";
import { serveStdio } from "./stdio-server.ts";

export const SERVE_USAGE = `Usage: gatehouse serve [--config FILE] [--host HOST] [--port PORT] [--stdio]

Starts the gateway. Without --config it runs the embedded default config
(bundled example servers, in-memory state) on 127.0.0.1:8080.

Options:
  --config FILE   the gateway config (YAML); reloaded on SIGHUP and when the file changes
  --host HOST     overrides listen.host
  --port PORT     overrides listen.port (0 picks a free port)
  --stdio         speak MCP over stdin/stdout instead of HTTP (logs go to stderr)
  -h, --help      this text`;

export async function serve(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        config: { type: "string" },
        host: { type: "string" },
        port: { type: "string" },
        stdio: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    process.stderr.write(`gatehouse serve: ${(error as Error).message}\n\n${SERVE_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(SERVE_USAGE + "\n");
    return 0;
  }
  const port = args.port === undefined ? undefined : Number(args.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)) {
    process.stderr.write(`gatehouse serve: --port must be an integer from 0 to 65535\n`);
    return 2;
  }
  configureLogging({ fd: args.stdio ? 2 : 1 });
  const log = logger("serve");

  const loaded = await load(args.config);
  if (!loaded.ok) {
    process.stderr.write(loaded.errors.join("\n") + "\n");
    return 1;
  }
  const config = withOverrides(loaded.config, args.host, port);

  let gateway: Gateway;
  try {
    gateway = await Gateway.start(config);
  } catch (error) {
    if (error instanceof GatewayConfigError) {
      process.stderr.write(error.problems.map((p) => `${config.configFile}: ${p}`).join("\n") + "\n");
      return 1;
    }
    throw error;
  }

  const reload = async (): Promise<void> => {
    const next = await load(args.config);
    if (!next.ok) {
      log.error({ errors: next.errors }, "reload rejected: config is invalid; the previous config keeps serving");
      return;
    }
    await gateway.reload(withOverrides(next.config, args.host, port));
  };
  const watcher = args.config === undefined ? undefined : watchFile(args.config, reload);
  process.on("SIGHUP", () => void reload());

  if (args.stdio) {
    // Ends on stdin EOF (the client went away) or on a signal; either way backends are stopped, not orphaned.
    await Promise.race([serveStdio(gateway, process.stdin, process.stdout), signalled()]);
    watcher?.close();
    await gateway.shutdown();
    return 0;
  }

  const server = await listen(gateway, config);
  const address = server.address();
  const boundPort = typeof address === "object" && address !== null ? address.port : config.listen.port;
  const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
  process.stdout.write(`Gatehouse listening on http://${host}:${boundPort}/mcp\n`);

  log.info({ signal: await signalled() }, "draining");
  watcher?.close();
  const { drained } = await gateway.shutdown();
  server.close();
  server.closeAllConnections();
  log.info({ drained }, "stopped");
  return 0;
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
}

function load(file: string | undefined) {
  return file === undefined ? loadDefaultConfig() : loadConfigFile(file);
}

function withOverrides(config: ResolvedConfig, host: string | undefined, port: number | undefined): ResolvedConfig {
  return { ...config, listen: { host: host ?? config.listen.host, port: port ?? config.listen.port } };
}

function listen(gateway: Gateway, config: ResolvedConfig): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = serveHttp({ fetch: gateway.httpApp().fetch, hostname: config.listen.host, port: config.listen.port }, () =>
      resolve(server as Server),
    ) as Server;
    server.once("error", reject);
    // SSE streams are long-lived; the defaults would cut them.
    server.requestTimeout = 0;
    server.keepAliveTimeout = 65_000;
  });
}

/** Editors replace files (rename) rather than write them, so watch and debounce. */
function watchFile(file: string, onChange: () => Promise<void>): FSWatcher | undefined {
  let timer: NodeJS.Timeout | undefined;
  try {
    const watcher = watch(file, () => {
      if (timer) clearTimeout(timer);
      timer = setTimeout(() => void onChange(), 200);
    });
    watcher.unref();
    return watcher;
  } catch {
    return undefined;
  }
}
