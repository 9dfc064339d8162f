/**
 * `gatehouse config check FILE`: loads and validates a config file the way `serve` would, without starting
 * anything. Exit 0 when valid, 1 with one line per problem on stderr when not, 2 on bad arguments.
 */
import { formatPath, loadConfigFile } from "../config/index.ts";
import { validateIdentityConfig, type IdentityConfig } from "../identity/index.ts";
import { resolveIssuerPaths } from "../identity-setup.ts";

export const CONFIG_CHECK_USAGE = `Usage: gatehouse config check FILE

Validates a Gatehouse config file: YAML syntax, \${VAR} interpolation against this environment, and the schema.
Prints "FILE: ok (N servers)" and exits 0 when it is valid; otherwise prints one line per problem on stderr and
exits 1. Exits 2 on bad arguments.

Options:
  -h, --help   show this help`;

export interface CheckOutput {
  out(line: string): void;
  err(line: string): void;
}

const processOutput: CheckOutput = {
  out: (line) => void process.stdout.write(line + "\n"),
  err: (line) => void process.stderr.write(line + "\n"),
};

/**
 * `argv` holds the arguments after `gatehouse config check` (so, normally, just FILE).
 * `output` is for tests; it defaults to the process's stdout and stderr.
 */
export async function configCheck(argv: string[], output: CheckOutput = processOutput): Promise<number> {
  const files: string[] = [];
  let optionsDone = false;
  for (const arg of argv) {
    if (!optionsDone && (arg === "-h" || arg === "--help")) {
      output.out(CONFIG_CHECK_USAGE);
      return 0;
    }
    if (!optionsDone && arg === "--") {
      optionsDone = true;
    } else if (!optionsDone && arg.startsWith("-")) {
      output.err(`gatehouse config check: unknown option ${arg}`);
      output.err(CONFIG_CHECK_USAGE);
      return 2;
    } else {
      files.push(arg);
    }
  }
  const file = files[0];
  if (file === undefined || files.length > 1) {
    output.err(`gatehouse config check: ${file === undefined ? "missing FILE" : "expected exactly one FILE"}`);
    output.err(CONFIG_CHECK_USAGE);
    return 2;
  }
  const result = await loadConfigFile(file);
  if (!result.ok) {
    for (const problem of result.errors) output.err(problem);
    return 1;
  }
  // The identity stage checks what a schema cannot: agentId templates, issuers sharing an `iss`, key sources.
  const identity = result.config.identity;
  if (identity !== undefined) {
    const problems = validateIdentityConfig(resolveIssuerPaths(identity, result.config.configDir) as IdentityConfig);
    if (problems.length > 0) {
      for (const p of problems) output.err(`${file}:${formatPath(["identity", ...p.path])}: ${p.message}`);
      return 1;
    }
  }
  const count = result.config.servers.length;
  output.out(`${file}: ok (${count} ${count === 1 ? "server" : "servers"})`);
  return 0;
}
