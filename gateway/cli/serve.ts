/** `gatehouse serve`: load config, start backends, serve /mcp over HTTP (or MCP over stdio), reload, drain. */
import { watch, type FSWatcher } from "node:fs";
import { parseArgs } from "node:util";
import { serve as serveHttp } from "@hono/node-server";
import type { Server } from "node:http";
import { loadConfig, type ResolvedConfig } from "../config/index.ts";
import { Gateway, GatewayConfigError } from "../gateway.ts";
import { configureLogging, logger } from "../log.ts";
import { serveStdio } from "./stdio-server.ts";
import { ANONYMOUS, isLoopbackHostname } from "../http/index.ts";
import { AuthError, type AgentIdentity } from "../identity/index.ts";

export const SERVE_USAGE = `Usage: gatehouse serve [--config FILE] [--host HOST] [--port PORT] [--stdio] [--no-watch] [--insecure-no-auth]

Starts the gateway. Without --config it runs the embedded default config
(bundled example servers, in-memory state, a dev token issuer) on 127.0.0.1:8080.
Agents send a bearer token on every request; "gatehouse token mint" makes one
from the dev issuer.

Options:
  --config FILE        the gateway config (YAML); reloaded on SIGHUP and when the file changes
  --no-watch           reload only on SIGHUP (or when another replica sharing Redis reloads)
  --host HOST          overrides listen.host
  --port PORT          overrides listen.port (0 picks a free port)
  --stdio              speak MCP over stdin/stdout instead of HTTP (logs go to stderr);
                       the agent's token comes from the GATEHOUSE_TOKEN environment variable
  --insecure-no-auth   development only, loopback only: accept every caller as "anonymous"
  -h, --help           this text`;

const INSECURE_WARNING =
  "WARNING: --insecure-no-auth: Gatehouse is NOT verifying who calls it. Every caller is the agent \"anonymous\". " +
  "Never use this beyond a loopback address on a development machine.";



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
        "no-watch": { type: "boolean", default: false },
        "insecure-no-auth": { type: "boolean", default: false },
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
  const loaded = await loadConfig(args.config);
  if (!loaded.ok) {
    process.stderr.write(loaded.errors.join("\n") + "\n");
    return 1;
  }
  // stdout belongs to the protocol (--stdio) or to the audit sink's records: then everything else goes to stderr.
  const stdoutTaken = args.stdio || (loaded.config.audit.enabled && loaded.config.audit.sinks.stdout);
  configureLogging({ fd: stdoutTaken ? 2 : 1 });
  const log = logger("serve");
  const config = withOverrides(loaded.config, args.host, port);
  const insecureNoAuth = args["insecure-no-auth"] === true;
  if (insecureNoAuth) {
    if (!args.stdio && !isLoopbackHostname(config.listen.host)) {
      process.stderr.write(`gatehouse serve: --insecure-no-auth is allowed only on a loopback address, not ${config.listen.host}\n`);
      return 2;
    }
    process.stderr.write(`${INSECURE_WARNING}\n`);
    log.warn(INSECURE_WARNING);
  }

  let gateway: Gateway;
  try {
    gateway = await Gateway.start(config, { insecureNoAuth, soleClient: args.stdio });
  } catch (error) {
    if (error instanceof GatewayConfigError) {
      process.stderr.write(error.problems.map((p) => `${config.configFile}: ${p}`).join("\n") + "\n");
      return 1;
    }
    throw error;
  }

  const reload = async (fromPeer = false): Promise<void> => {
    const next = await loadConfig(args.config);
    if (!next.ok) {
      log.error({ errors: next.errors }, "reload rejected: config is invalid; the previous config keeps serving");
      return;
    }
    await gateway.reload(withOverrides(next.config, args.host, port), { fromPeer });
  };
  // A reload that throws must not take the process down (and a peer's would take every replica down at once).
  const reloadSafely = (fromPeer: boolean): void => {
    reload(fromPeer).catch((error: unknown) => log.error({ err: (error as Error).message }, "reload failed; the previous config keeps serving"));
  };
  gateway.onPeerConfigReload = () => reloadSafely(true);
  const watcher = args.config === undefined || args["no-watch"] ? undefined : watchFile(args.config, async () => reloadSafely(false));
  process.on("SIGHUP", () => reloadSafely(false));

  if (args.stdio) {
    // Ends on stdin EOF (the client went away) or on a signal; either way backends are stopped, not orphaned.
    const agent = await stdioIdentity(gateway);
    if ("error" in agent) {
      process.stderr.write(`gatehouse serve --stdio: ${agent.error}\n`);
      await gateway.shutdown();
      return 1;
    }
    await Promise.race([serveStdio(gateway, process.stdin, process.stdout, agent.identity), signalled()]);
    watcher?.close();
    await gateway.shutdown();
    return 0;
  }

  const server = await listen(gateway, config);
  const address = server.address();
  const boundPort = typeof address === "object" && address !== null ? address.port : config.listen.port;
  const host = config.listen.host.includes(":") ? `[${config.listen.host}]` : config.listen.host;
  (stdoutTaken ? process.stderr : process.stdout).write(`Gatehouse listening on http://${host}:${boundPort}/mcp\n`);

  log.info({ signal: await signalled() }, "draining");
  watcher?.close();
  const { drained } = await gateway.shutdown();
  server.close();
  server.closeAllConnections();
  log.info({ drained }, "stopped");
  return 0;
}

/** Over stdio the token comes from the environment (the MCP authorization spec's advice for stdio). */
async function stdioIdentity(gateway: Gateway): Promise<{ identity: AgentIdentity } | { error: string }> {
  const authenticator = gateway.identity.authenticator;
  if (authenticator === undefined) return { identity: ANONYMOUS };
  const token = process.env.GATEHOUSE_TOKEN;
  if (token === undefined || token === "") return { error: "set GATEHOUSE_TOKEN to the agent's bearer token (or use --insecure-no-auth)" };
  try {
    return { identity: await authenticator.verify(token) };
  } catch (error) {
    return { error: `GATEHOUSE_TOKEN was refused: ${error instanceof AuthError ? error.description : "it could not be verified"}` };
  }
}

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
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
