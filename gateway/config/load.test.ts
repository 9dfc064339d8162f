import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfigFile, parseConfigText } from "./load.ts";
import type { ResolvedConfig } from "./load.ts";

const FILE = "gatehouse.yaml";
const BASE = "/srv/gatehouse";

function parse(text: string, env: NodeJS.ProcessEnv = {}) {
  return parseConfigText(text, { file: FILE, env, baseDir: BASE });
}

function valid(text: string, env: NodeJS.ProcessEnv = {}): ResolvedConfig {
  const result = parse(text, env);
  if (!result.ok) throw new Error(`expected a valid config, got:\n${result.errors.join("\n")}`);
  return result.config;
}

function errorsOf(text: string, env: NodeJS.ProcessEnv = {}): string[] {
  const result = parse(text, env);
  if (result.ok) throw new Error("expected errors, config was valid");
  return result.errors;
}

const stdio = "transport: stdio\n    command: node";

describe("valid configs and defaults", () => {
  const cases: Array<{ name: string; text: string; env?: NodeJS.ProcessEnv; check: (config: ResolvedConfig) => unknown; expected: unknown }> = [
    { name: "empty file is all defaults", text: "", check: (c) => c.servers, expected: [] },
    { name: "comment-only file", text: "# nothing\n", check: (c) => c.listen, expected: { host: "127.0.0.1", port: 8080 } },
    { name: "listen default", text: "{}", check: (c) => c.listen, expected: { host: "127.0.0.1", port: 8080 } },
    { name: "listen partial", text: "listen: {port: 9000}", check: (c) => c.listen, expected: { host: "127.0.0.1", port: 9000 } },
    { name: "naming default", text: "{}", check: (c) => c.naming, expected: { separator: "__", prefix: "when-needed" } },
    { name: "naming partial", text: "naming: {prefix: always}", check: (c) => c.naming, expected: { separator: "__", prefix: "always" } },
    {
      name: "http defaults",
      text: "{}",
      check: (c) => c.http,
      expected: { maxBodyBytes: 4194304, allowedOrigins: [], pageSize: 100, sessionIdleTimeoutMs: 1800000, drainTimeoutMs: 10000 },
    },
    { name: "dataDir default, absolute", text: "{}", check: (c) => c.dataDir, expected: path.resolve(BASE, ".gatehouse") },
    { name: "dataDir relative", text: "dataDir: ../state", check: (c) => c.dataDir, expected: path.resolve(BASE, "../state") },
    { name: "dataDir absolute stays", text: "dataDir: /var/lib/gh", check: (c) => c.dataDir, expected: "/var/lib/gh" },
    { name: "configDir", text: "{}", check: (c) => c.configDir, expected: BASE },
    { name: "configFile absolute", text: "{}", check: (c) => c.configFile, expected: path.resolve(FILE) },
    {
      name: "minimal stdio server with defaults",
      text: `servers:\n  - name: notes\n    ${stdio}`,
      check: (c) => c.servers[0],
      expected: { name: "notes", transport: "stdio", command: "node", args: [], env: {}, cwd: BASE, timeoutMs: 30000, required: true, identity: "none", roots: false },
    },
    {
      name: "stdio cwd relative to the config folder",
      text: `servers:\n  - name: notes\n    ${stdio}\n    cwd: ./servers/notes`,
      check: (c) => c.servers[0]?.transport === "stdio" && c.servers[0].cwd,
      expected: path.join(BASE, "servers/notes"),
    },
    {
      name: "minimal http server with defaults",
      text: "servers:\n  - name: remote\n    transport: http\n    url: https://mcp.example.com/mcp",
      check: (c) => c.servers[0],
      expected: { name: "remote", transport: "http", url: "https://mcp.example.com/mcp", headers: {}, timeoutMs: 30000, required: true, identity: "none", roots: false, scope: "shared", protocol: "auto" },
    },
    {
      name: "sse transport, alias, tool filter",
      text: "servers:\n  - name: old\n    alias: legacy\n    transport: sse\n    url: http://localhost:9/sse\n    tools: {allow: ['read_*'], deny: ['*_admin']}",
      check: (c) => c.servers[0],
      expected: expect.objectContaining({ alias: "legacy", transport: "sse", tools: { allow: ["read_*"], deny: ["*_admin"] } }),
    },
    {
      name: "alias equal to its own name is fine",
      text: `servers:\n  - name: a\n    alias: a\n    ${stdio}`,
      check: (c) => c.servers.length,
      expected: 1,
    },
    {
      name: "env interpolation with default and escape",
      text: `servers:\n  - name: a\n    ${stdio}\n    args: ["\${MODE:-fast}", "$\${literal}"]\n    env: {TOKEN: "\${TOKEN}"}`,
      env: { TOKEN: "t0ken" },
      check: (c) => c.servers[0]?.transport === "stdio" && [c.servers[0].args, c.servers[0].env],
      expected: [["fast", "${literal}"], { TOKEN: "t0ken" }],
    },
    {
      name: "interpolated url",
      text: "servers:\n  - name: r\n    transport: http\n    url: https://${HOST}/mcp\n    headers: {Authorization: 'Bearer ${KEY}'}",
      env: { HOST: "h.example", KEY: "k" },
      check: (c) => c.servers[0]?.transport === "http" && [c.servers[0].url, c.servers[0].headers],
      expected: ["https://h.example/mcp", { Authorization: "Bearer k" }],
    },
    {
      name: "a per-session Streamable HTTP server",
      text: "servers:\n  - name: r\n    transport: http\n    url: http://x/mcp\n    scope: per-session\n    maxInstances: 500",
      check: (c) => c.servers[0]?.transport === "http" && [c.servers[0].scope, c.servers[0].maxInstances],
      expected: ["per-session", 500],
    },
    {
      name: "state in Redis, rate limits with default burst and fail-open",
      text: "state: {store: redis, redis: {url: 'redis://r:6379'}}\nrateLimits: {perAgentTool: {perMinute: 30}}",
      check: (c) => [c.state, c.rateLimits],
      expected: [{ store: "redis", redis: { url: "redis://r:6379", keyPrefix: "gatehouse:" } }, { perAgentTool: { perMinute: 30 }, onStoreError: "open" }],
    },
    { name: "state defaults to memory", text: "", check: (c) => c.state, expected: { store: "memory" } },
  ];
  it.each(cases)("$name", ({ text, env, check, expected }) => {
    expect(check(valid(text, env))).toEqual(expected);
  });
});

describe("problems", () => {
  const cases: Array<{ name: string; text: string; env?: NodeJS.ProcessEnv; errors: string[] }> = [
    { name: "unknown root key", text: "bogus: 1", errors: [`${FILE}: unknown key "bogus"`] },
    { name: "unknown nested key", text: "naming: {prefx: always}", errors: [`${FILE}:naming: unknown key "prefx"`] },
    {
      name: "unknown server key",
      text: `servers:\n  - name: a\n    ${stdio}\n    bogus: 1`,
      errors: [`${FILE}:servers[0]: unknown key "bogus"`],
    },
    {
      name: "unknown key in a tool filter",
      text: `servers:\n  - name: a\n    ${stdio}\n    tools: {allow: [x], block: [y]}`,
      errors: [`${FILE}:servers[0].tools: unknown key "block"`],
    },
    {
      name: "http-only key on a stdio server",
      text: `servers:\n  - name: a\n    ${stdio}\n    url: http://x`,
      errors: [`${FILE}:servers[0]: unknown key "url"`],
    },
    {
      name: "two unknown keys → two lines",
      text: "listen: {hots: x, prot: 1}",
      errors: [`${FILE}:listen: unknown key "hots"`, `${FILE}:listen: unknown key "prot"`],
    },
    {
      name: "bad transport",
      text: "servers:\n  - name: a\n    transport: ftp\n  - name: b\n    transport: http\n    url: http://x",
      errors: [`${FILE}:servers[0].transport: transport must be one of: stdio, http, sse, container`],
    },
    {
      name: "missing transport",
      text: "servers:\n  - name: a\n    command: node",
      errors: [`${FILE}:servers[0].transport: required: transport must be one of: stdio, http, sse, container`],
    },
    { name: "missing command", text: "servers:\n  - name: a\n    transport: stdio", errors: [`${FILE}:servers[0].command: required (expected string)`] },
    {
      name: "empty command",
      text: "servers:\n  - name: a\n    transport: stdio\n    command: ''",
      errors: [`${FILE}:servers[0].command: command must not be empty`],
    },
    { name: "missing url", text: "servers:\n  - name: a\n    transport: http", errors: [`${FILE}:servers[0].url: required (expected string)`] },
    {
      name: "per-session over legacy SSE",
      text: "servers:\n  - name: a\n    transport: sse\n    url: http://x/sse\n    scope: per-session",
      errors: [`${FILE}:servers[0].scope: per-session needs transport: http (Streamable HTTP sessions); legacy SSE has none to keep`],
    },
    {
      name: "per-session with a 2026-07-28 server",
      text: "servers:\n  - name: a\n    transport: http\n    url: http://x/mcp\n    protocol: '2026-07-28'\n    scope: per-session",
      errors: [`${FILE}:servers[0].scope: per-session needs 2025 Streamable HTTP sessions; a 2026-07-28 server is stateless (use scope: shared)`],
    },
    {
      name: "2026-07-28 over legacy SSE",
      text: "servers:\n  - name: a\n    transport: sse\n    url: http://x/sse\n    protocol: '2026-07-28'",
      errors: [`${FILE}:servers[0].protocol: 2026-07-28 runs over Streamable HTTP (transport: http); legacy SSE servers speak 2024-11-05`],
    },
    { name: "an unknown protocol", text: "servers:\n  - name: a\n    transport: http\n    url: http://x/mcp\n    protocol: '2024-11-05'", errors: [expect.stringMatching(/servers\[0\]\.protocol: Invalid option: expected one of .*"2026-07-28"/)] },
    { name: "idleTimeoutMs on a shared HTTP server", text: "servers:\n  - name: a\n    transport: http\n    url: http://x\n    idleTimeoutMs: 500", errors: [`${FILE}:servers[0].idleTimeoutMs: only applies to scope: per-session`] },
    { name: "store: redis without redis", text: "state: {store: redis}", errors: [`${FILE}:state.redis: required: store: redis needs it (redis.url)`] },
    { name: "redis settings with store: memory", text: "state: {redis: {url: 'redis://r'}}", errors: [`${FILE}:state.redis: only applies to store: redis`] },
    { name: "a non-redis state URL", text: "state: {store: redis, redis: {url: 'http://r'}}", errors: [`${FILE}:state.redis.url: must be a redis:// or rediss:// URL`] },
    { name: "a key prefix with a hash-tag brace", text: "state: {store: redis, redis: {url: 'redis://r', keyPrefix: 'a{b}'}}", errors: [`${FILE}:state.redis.keyPrefix: must be 1-64 characters from [A-Za-z0-9:_.-]`] },
    { name: "a zero rate", text: "rateLimits: {perAgent: {perMinute: 0}}", errors: [`${FILE}:rateLimits.perAgent.perMinute: Too small: expected number to be >0`] },
    { name: "an unknown onStoreError", text: "rateLimits: {onStoreError: maybe}", errors: [`${FILE}:rateLimits.onStoreError: Invalid option: expected one of "open"|"closed"`] },
    {
      name: "non-http url",
      text: "servers:\n  - name: a\n    transport: sse\n    url: ftp://x/y",
      errors: [`${FILE}:servers[0].url: must be an http(s) URL`],
    },
    { name: "missing name", text: `servers:\n  - ${stdio}`, errors: [`${FILE}:servers[0].name: required (expected string)`] },
    {
      name: "bad name",
      text: `servers:\n  - name: My_Server\n    ${stdio}`,
      errors: [`${FILE}:servers[0].name: must match [a-z0-9-]+ (lowercase letters, digits, dashes)`],
    },
    {
      name: "duplicate names",
      text: `servers:\n  - name: a\n    ${stdio}\n  - name: a\n    ${stdio}`,
      errors: [`${FILE}:servers[1].name: "a" is already used as a name or alias by servers[0]`],
    },
    {
      name: "alias clashes with another name",
      text: `servers:\n  - name: a\n    ${stdio}\n  - name: b\n    alias: a\n    ${stdio}`,
      errors: [`${FILE}:servers[1].alias: "a" is already used as a name or alias by servers[0]`],
    },
    {
      name: "duplicate aliases",
      text: `servers:\n  - name: a\n    alias: x\n    ${stdio}\n  - name: b\n    alias: x\n    ${stdio}`,
      errors: [`${FILE}:servers[1].alias: "x" is already used as a name or alias by servers[0]`],
    },
    {
      name: "bad separator",
      text: "naming: {separator: '/'}",
      errors: [`${FILE}:naming.separator: must be 1-8 characters from the tool-name alphabet [A-Za-z0-9_.-]`],
    },
    { name: "separator too long", text: "naming: {separator: '123456789'}", errors: [expect.stringContaining(`${FILE}:naming.separator: must be 1-8`) as unknown as string] },
    {
      name: "bad prefix mode",
      text: "naming: {prefix: sometimes}",
      errors: [`${FILE}:naming.prefix: Invalid option: expected one of "always"|"when-needed"|"never"`],
    },
    { name: "wrong type", text: "listen: {port: '8080'}", errors: [`${FILE}:listen.port: expected number, got string`] },
    { name: "port out of range", text: "listen: {port: 70000}", errors: [expect.stringMatching(/^gatehouse\.yaml:listen\.port: Too big/) as unknown as string] },
    { name: "root not a map", text: "- a\n- b", errors: [`${FILE}: expected object, got array`] },
    { name: "servers not a list", text: "servers: {a: 1}", errors: [`${FILE}:servers: expected array, got object`] },
    {
      name: "missing env var",
      text: `servers:\n  - name: a\n    ${stdio}\n    env: {KEY: "\${SECRET}"}`,
      errors: [`${FILE}:servers[0].env.KEY: environment variable SECRET is not set`],
    },
    {
      name: "missing env var in a required value reports only the variable",
      text: "servers:\n  - name: a\n    transport: http\n    url: ${URL}",
      errors: [`${FILE}:servers[0].url: environment variable URL is not set`],
    },
    {
      name: "YAML bad indentation",
      text: "servers:\n  - name: a\n  transport: stdio\n",
      errors: [`${FILE}:3:1: All mapping items must start at the same column`],
    },
    {
      name: "YAML tab indentation",
      text: "listen:\n  port: 8080\nservers:\n\t- name: a\n",
      errors: [`${FILE}:4:1: Tabs are not allowed as indentation`],
    },
    { name: "YAML column", text: "dataDir: b: c\n", errors: [`${FILE}:1:10: Nested mappings are not allowed in compact mappings`] },
    { name: "YAML duplicate key", text: "listen: {}\ndataDir: x\nlisten: {}\n", errors: [`${FILE}:3:1: Map keys must be unique`] },
    { name: "YAML unclosed quote", text: "dataDir: 'abc\n", errors: [`${FILE}:2:1: Missing closing 'quote`] },
    {
      name: "YAML unresolved alias",
      text: "dataDir: *nowhere\n",
      errors: [expect.stringMatching(/^gatehouse\.yaml(:1:\d+)?: .*nowhere/) as unknown as string],
    },
    {
      name: "many problems at once, in file order",
      text: [
        "listen: {port: x, bogus: 1}",
        "naming: {separator: '//'}",
        "servers:",
        "  - name: a",
        "    transport: stdio",
        '    env: {KEY: "${NOT_SET}"}',
        "  - name: a",
        "    transport: ftp",
        "  - name: b",
        "    transport: http",
        "    url: ftp://nope",
      ].join("\n"),
      errors: [
        `${FILE}:listen: unknown key "bogus"`,
        `${FILE}:listen.port: expected number, got string`,
        `${FILE}:naming.separator: must be 1-8 characters from the tool-name alphabet [A-Za-z0-9_.-]`,
        `${FILE}:servers[0].command: required (expected string)`,
        `${FILE}:servers[0].env.KEY: environment variable NOT_SET is not set`,
        `${FILE}:servers[1].name: "a" is already used as a name or alias by servers[0]`,
        `${FILE}:servers[1].transport: transport must be one of: stdio, http, sse, container`,
        `${FILE}:servers[2].url: must be an http(s) URL`,
      ],
    },
  ];
  it.each(cases)("$name", ({ text, env, errors }) => {
    expect(errorsOf(text, env)).toEqual(errors);
  });

  it("counts YAML lines from 1 and reports every syntax error", () => {
    const errors = errorsOf("a: 1\nb: 2\nc: [\n");
    expect(errors.length).toBeGreaterThanOrEqual(1);
    for (const error of errors) expect(error).toMatch(/^gatehouse\.yaml:\d+:\d+: \S/);
    expect(errorsOf("\n\n\nx: 1\nx: 2")).toEqual([`${FILE}:5:1: Map keys must be unique`]);
  });

  it("never repeats an interpolated value in a message", () => {
    const text = "servers:\n  - name: ${NAME}\n    transport: http\n    url: ${URL}\n  - name: ${NAME}\n    transport: http\n    url: https://x";
    const errors = errorsOf(text, { NAME: "s3cr3t-name", URL: "s3cr3t-url" });
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.join("\n")).not.toMatch(/s3cr3t/);
    expect(errors).toContain(`${FILE}:servers[1].name: "<value from environment>" is already used as a name or alias by servers[0]`);
  });
});

describe("file names", () => {
  it("keeps a pseudo name as configFile and resolves against baseDir", () => {
    const result = parseConfigText("{}", { file: "<stdin>", baseDir: "/etc/gh", env: {} });
    expect(result.ok && [result.config.configFile, result.config.configDir]).toEqual(["<stdin>", "/etc/gh"]);
  });

  it("names the file as given in messages", () => {
    const result = parseConfigText("bogus: 1", { file: "conf/x.yaml", env: {} });
    expect(result).toEqual({ ok: false, errors: ['conf/x.yaml: unknown key "bogus"'] });
  });
});

describe("loadConfigFile", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "gatehouse-config-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("resolves relative paths against the file's folder and reads env", async () => {
    const file = path.join(dir, "gatehouse.yaml");
    await writeFile(file, `dataDir: state\nservers:\n  - name: a\n    transport: stdio\n    command: \${CMD}\n`);
    const result = await loadConfigFile(file, { CMD: "node" });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.configFile).toBe(file);
    expect(result.config.configDir).toBe(dir);
    expect(result.config.dataDir).toBe(path.join(dir, "state"));
    expect(result.config.servers[0]).toMatchObject({ command: "node", cwd: dir });
  });

  it.each([
    ["missing file", "nope.yaml", "no such file"],
    ["a directory", ".", "is a directory, not a file"],
  ])("reports %s", async (_label, name, reason) => {
    const file = path.join(dir, name);
    expect(await loadConfigFile(file, {})).toEqual({ ok: false, errors: [`${file}: ${reason}`] });
  });
});
