/** The `gatehouse` command: a thin dispatcher over the subcommands, each with its own --help. */
import { serve, SERVE_USAGE } from "./serve.ts";
import { configCheck } from "./config-check.ts";
import { token } from "./token.ts";
import { policy } from "./policy.ts";
import { audit } from "./audit.ts";

const USAGE = `Usage: gatehouse <command> [options]

Commands:
  serve           start the gateway (HTTP, or --stdio)
  config check    validate a config file
  token mint      print a bearer token from the dev issuer
  policy          build, test, evaluate and replay the Rego policy
  audit           verify, query and tail the audit log

Run "gatehouse <command> --help" for a command's options.

${SERVE_USAGE}`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return serve(rest);
    case "token":
      return token(rest);
    case "policy":
      return policy(rest);
    case "audit":
      return audit(rest);
    case "config":
      if (rest[0] === "check") return configCheck(rest.slice(1));
      process.stderr.write(`Usage: gatehouse config check FILE\n`);
      return rest[0] === "--help" || rest[0] === "-h" ? 0 : 2;
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(USAGE + "\n");
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`gatehouse: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

/** Runs a command and exits with its code once it is done (backends and timers are stopped by then). */
export function runCli(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
      // Let stdout flush, then exit rather than wait on a stray handle.
      setTimeout(() => process.exit(code), 50);
    },
    (error: unknown) => {
      process.stderr.write(`gatehouse: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}

if (import.meta.main) runCli(process.argv.slice(2));
