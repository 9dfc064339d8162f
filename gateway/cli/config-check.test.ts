// Tests for gateway/cli/config-check.ts.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CONFIG_CHECK_USAGE, configCheck } from "./config-check.ts";

let dir = "";
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "gatehouse-check-"));
  await writeFile(path.join(dir, "good.yaml"), "servers:\n  - {name: a, transport: stdio, command: node}\n  - {name: b, transport: http, url: 'http://x'}\n");
  await writeFile(path.join(dir, "one.yaml"), "servers:\n  - {name: a, transport: stdio, command: node}\n");
  await writeFile(path.join(dir, "empty.yaml"), "");
  await writeFile(path.join(dir, "bad.yaml"), "bogus: 1\nservers:\n  - {name: a, transport: ftp}\n");
  await writeFile(path.join(dir, "syntax.yaml"), "a: [\n");
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await configCheck(argv, { out: (line) => out.push(line), err: (line) => err.push(line) });
  return { code, out, err };
}

describe("gatehouse config check", () => {
  // Case tables are built before beforeAll runs, so paths are written as "@name" and expanded at run time.
  const at = (name: string) => `@${name}`;
  const expand = (text: string) => text.replace(/@([\w.]+)/g, (_match, name: string) => path.join(dir, name));
  const cases: Array<{ name: string; argv: string[]; code: number; out?: string[]; err?: string[] }> = [
    { name: "valid, two servers", argv: [at("good.yaml")], code: 0, out: [`${at("good.yaml")}: ok (2 servers)`], err: [] },
    { name: "valid, one server", argv: [at("one.yaml")], code: 0, out: [`${at("one.yaml")}: ok (1 server)`], err: [] },
    { name: "valid, empty", argv: [at("empty.yaml")], code: 0, out: [`${at("empty.yaml")}: ok (0 servers)`] },
    { name: "after --", argv: ["--", at("one.yaml")], code: 0, out: [`${at("one.yaml")}: ok (1 server)`] },
    {
      name: "invalid: one line per problem on stderr",
      argv: [at("bad.yaml")],
      code: 1,
      out: [],
      err: [`${at("bad.yaml")}: unknown key "bogus"`, `${at("bad.yaml")}:servers[0].transport: transport must be one of: stdio, http, sse, container`],
    },
    { name: "syntax error", argv: [at("syntax.yaml")], code: 1, out: [] },
    { name: "missing file", argv: [at("nope.yaml")], code: 1, err: [`${at("nope.yaml")}: no such file`] },
    { name: "--help", argv: ["--help"], code: 0, out: [CONFIG_CHECK_USAGE], err: [] },
    { name: "-h after a file", argv: [at("bad.yaml"), "-h"], code: 0, out: [CONFIG_CHECK_USAGE] },
    { name: "no file", argv: [], code: 2, out: [], err: ["gatehouse config check: missing FILE", CONFIG_CHECK_USAGE] },
    { name: "two files", argv: ["a", "b"], code: 2, err: ["gatehouse config check: expected exactly one FILE", CONFIG_CHECK_USAGE] },
    { name: "unknown option", argv: ["--strict", "a"], code: 2, err: ["gatehouse config check: unknown option --strict", CONFIG_CHECK_USAGE] },
  ];
  it.each(cases)("$name → exit $code", async ({ argv, code, out, err }) => {
    const result = await run(argv.map(expand));
    expect(result.code).toBe(code);
    if (out !== undefined) expect(result.out).toEqual(out.map(expand));
    if (err !== undefined) expect(result.err).toEqual(err.map(expand));
    if (code === 1) expect(result.err.length).toBeGreaterThan(0);
  });
});
