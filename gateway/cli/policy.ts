/**
 * `gatehouse policy build|test|eval`. build and test wrap the pinned opa through scripts/policy.sh (one place
 * knows the capabilities, entrypoint and sources); eval runs a bundle on an input with the gateway's own engine,
 * so what it prints is what the gateway would decide.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { evalCommand } from "../policy/index.ts";
import { loadConfig } from "../config/index.ts";
import { filterFromQuery } from "../admin/index.ts";
import { formatReplay, replayAudit } from "./replay.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const DEFAULT_BUNDLE = `${ROOT}policies/dist/bundle.tar.gz`;

export const POLICY_USAGE = `Usage: gatehouse policy <build|test|eval|replay> [options]

  policy test                          opa check --strict and opa test -v on policies/
  policy build [OPA BUILD ARGS]        the WASM bundle policies/dist/bundle.tar.gz, with the capabilities
                                       the in-process engine supports (an unsupported builtin fails here)
  policy eval --input FILE [--bundle B] [--shadow S] [--mode enforce|dry-run]
                                       evaluate the input document (FILE, or - for stdin) and print the
                                       decision as JSON; exit 0 on allow, 3 on deny, 1 on error
                                       (default bundle: policies/dist/bundle.tar.gz)
  policy replay --bundle CANDIDATE [--audit DIR | --config FILE] [--since T] [--until T]
                [--agent A] [--server S] [--tool T] [--json]
                                       re-evaluate the policy inputs recorded in the audit log against
                                       CANDIDATE and print every decision that would change; exit 0
                                       when none would, 3 when some would, 1 on error
                                       (default audit dir: the config's audit.dir)
  -h, --help                           this text

The input document is described in policies/README.md.`;

export async function policy(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h" || rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(POLICY_USAGE + "\n");
    return sub === undefined ? 2 : 0;
  }
  if (sub === "build" || sub === "test") {
    const result = spawnSync("bash", [`${ROOT}scripts/policy.sh`, sub, ...rest], { stdio: "inherit" });
    return result.status ?? 1;
  }
  if (sub === "eval") return evaluate(rest);
  if (sub === "replay") return replay(rest);
  process.stderr.write(`gatehouse policy: unknown subcommand "${sub}"\n\n${POLICY_USAGE}\n`);
  return 2;
}

async function evaluate(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        input: { type: "string" },
        bundle: { type: "string", default: DEFAULT_BUNDLE },
        shadow: { type: "string" },
        mode: { type: "string", default: "enforce" },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`gatehouse policy eval: ${(error as Error).message}\n`);
    return 2;
  }
  if (values.input === undefined || (values.mode !== "enforce" && values.mode !== "dry-run")) {
    process.stderr.write(`gatehouse policy eval: --input FILE is required; --mode is enforce or dry-run\n`);
    return 2;
  }
  try {
    const outcome = await evalCommand({
      inputFile: values.input,
      bundle: values.bundle ?? DEFAULT_BUNDLE,
      mode: values.mode,
      ...(values.shadow === undefined ? {} : { shadow: values.shadow }),
    });
    process.stdout.write(JSON.stringify(outcome, null, 2) + "\n");
    return outcome.effect === "error" ? 1 : outcome.allow ? 0 : 3;
  } catch (error) {
    process.stderr.write(`gatehouse policy eval: ${(error as Error).message}\n`);
    return 1;
  }
}

async function replay(argv: string[]): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      options: {
        bundle: { type: "string" },
        audit: { type: "string" },
        config: { type: "string" },
        since: { type: "string" },
        until: { type: "string" },
        agent: { type: "string" },
        server: { type: "string" },
        tool: { type: "string" },
        json: { type: "boolean", default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`gatehouse policy replay: ${(error as Error).message}\n`);
    return 2;
  }
  if (values.bundle === undefined) {
    process.stderr.write(`gatehouse policy replay: --bundle CANDIDATE is required\n`);
    return 2;
  }
  try {
    let dir = values.audit;
    if (dir === undefined) {
      const loaded = await loadConfig(values.config);
      if (!loaded.ok) throw new Error(`config: ${loaded.errors.join("; ")}`);
      dir = loaded.config.audit.dir;
    }
    const params: Record<string, string> = {};
    for (const key of ["since", "until", "agent", "server", "tool"] as const) if (values[key] !== undefined) params[key] = values[key];
    const { filter } = filterFromQuery(params);
    const report = await replayAudit({ bundle: values.bundle, dir, filter });
    process.stdout.write(values.json ? JSON.stringify(report, null, 2) + "\n" : formatReplay(report));
    return report.changes.length > 0 ? 3 : 0;
  } catch (error) {
    process.stderr.write(`gatehouse policy replay: ${(error as Error).message}\n`);
    return 1;
  }
}
