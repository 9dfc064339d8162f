/** `gatehouse token mint`: a real, signed JWT from the dev issuer, for trying the gateway out and for tests. */
import { parseArgs } from "node:util";
import path from "node:path";
import { loadConfig } from "../config/index.ts";
import { DEV_ISSUER_DIR, mintDevToken } from "../identity/index.ts";
import { devIssuerOf } from "../identity-setup.ts";

export const TOKEN_USAGE = `Usage: gatehouse token mint --agent NAME [--scope S]... [--ttl 1h] [--config FILE]

Prints a bearer token for agent NAME, signed by the config's dev issuer (the
static issuer whose jwksFile is <dataDir>/${DEV_ISSUER_DIR}/jwks.json; the
embedded default config has one). The key is created on first use.

Options:
  --agent NAME    the token's subject (sub), which becomes the agent id
  --scope S       a scope to grant; repeat for more
  --ttl DURATION  lifetime: 90s, 30m, 1h, 7d (default 1h)
  --config FILE   the gateway config (default: the embedded default)
  -h, --help      this text`;

export function parseDuration(text: string): number | undefined {
  const match = /^(\d+)(s|m|h|d)?$/.exec(text.trim());
  if (match === null) return undefined;
  const unit = { s: 1, m: 60, h: 3600, d: 86_400 }[(match[2] ?? "s") as "s" | "m" | "h" | "d"];
  const seconds = Number(match[1]) * unit;
  return seconds > 0 ? seconds : undefined;
}

export async function token(argv: string[]): Promise<number> {
  if (argv[0] !== "mint") {
    const help = argv[0] === "--help" || argv[0] === "-h";
    (help ? process.stdout : process.stderr).write(TOKEN_USAGE + "\n");
    return help ? 0 : 2;
  }
  let values;
  try {
    values = parseArgs({
      args: argv.slice(1),
      options: {
        agent: { type: "string" },
        scope: { type: "string", multiple: true, default: [] },
        ttl: { type: "string", default: "1h" },
        config: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
    }).values;
  } catch (error) {
    process.stderr.write(`gatehouse token mint: ${(error as Error).message}\n\n${TOKEN_USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(TOKEN_USAGE + "\n");
    return 0;
  }
  const ttlSeconds = parseDuration(values.ttl);
  if (values.agent === undefined || values.agent === "" || ttlSeconds === undefined) {
    process.stderr.write(`gatehouse token mint: --agent is required and --ttl must look like 90s, 30m, 1h or 7d\n`);
    return 2;
  }
  const loaded = await loadConfig(values.config);
  if (!loaded.ok) {
    process.stderr.write(loaded.errors.join("\n") + "\n");
    return 1;
  }
  const { config } = loaded;
  const dev = devIssuerOf(config);
  if (dev === undefined) {
    const expected = path.join(config.dataDir, DEV_ISSUER_DIR, "jwks.json");
    process.stderr.write(`gatehouse token mint: ${config.configFile} has no dev issuer (a static issuer with jwksFile ${expected})\n`);
    return 1;
  }
  const minted = await mintDevToken({
    dataDir: config.dataDir,
    issuer: dev.issuer,
    audience: dev.audience,
    agent: values.agent,
    scopes: values.scope ?? [],
    ttlSeconds,
  });
  process.stdout.write(minted + "\n");
  return 0;
}
