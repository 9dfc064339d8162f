import { describe, expect, it } from "vitest";
import { formatPath, interpolateString, interpolateTree } from "./interpolate.ts";

const env = { HOST: "example.com", EMPTY: "", SECRET: "hunter2", PORT: "8443" };

describe("interpolateString", () => {
  const cases: Array<{ name: string; text: string; value?: string; errors?: string[]; fromEnv?: boolean }> = [
    { name: "no dollar", text: "plain text", value: "plain text", fromEnv: false },
    { name: "whole value", text: "${HOST}", value: "example.com", fromEnv: true },
    { name: "embedded", text: "https://${HOST}:${PORT}/mcp", value: "https://example.com:8443/mcp", fromEnv: true },
    { name: "set but empty", text: "[${EMPTY}]", value: "[]", fromEnv: true },
    { name: "default when unset", text: "${NOPE:-fallback}", value: "fallback", fromEnv: false },
    { name: "default when empty", text: "${EMPTY:-fallback}", value: "fallback", fromEnv: false },
    { name: "default ignored when set", text: "${HOST:-fallback}", value: "example.com", fromEnv: true },
    { name: "empty default", text: "a${NOPE:-}b", value: "ab" },
    { name: "default with odd characters", text: "${NOPE:-a:b/c d-e}", value: "a:b/c d-e" },
    { name: "escape", text: "$${HOST}", value: "${HOST}", fromEnv: false },
    { name: "escape then variable", text: "$${x} ${HOST}", value: "${x} example.com" },
    { name: "lone dollars stay", text: "cost: $5, $HOME, $$", value: "cost: $5, $HOME, $$" },
    { name: "trailing dollar", text: "a$", value: "a$" },
    { name: "unset", text: "Bearer ${SECRET_TOKEN}", errors: ["environment variable SECRET_TOKEN is not set"] },
    {
      name: "two unset",
      text: "${A_1}/${B_2}",
      errors: ["environment variable A_1 is not set", "environment variable B_2 is not set"],
    },
    { name: "unterminated", text: "x ${HOST", errors: ['unterminated "${" (write "$${" for a literal "${")'] },
    { name: "bad name", text: "${1X}", errors: [expect.stringContaining('invalid variable reference "${1X}"') as unknown as string] },
    { name: "empty braces", text: "${}", errors: [expect.stringContaining("invalid variable reference") as unknown as string] },
    { name: "other operator", text: "${HOST:=x}", errors: [expect.stringContaining("invalid variable reference") as unknown as string] },
  ];
  it.each(cases)("$name", ({ text, value, errors, fromEnv }) => {
    const result = interpolateString(text, env);
    expect(result.errors).toEqual(errors ?? []);
    if (value !== undefined) expect(result.value).toBe(value);
    if (fromEnv !== undefined) expect(result.fromEnv).toBe(fromEnv);
  });

  it("does not read inherited properties of env", () => {
    expect(interpolateString("${toString}", {}).errors).toEqual(["environment variable toString is not set"]);
  });

  it("never puts a value into an error", () => {
    const result = interpolateString("${SECRET} ${MISSING} ${SECRET", env);
    expect(result.errors.join("\n")).not.toContain("hunter2");
  });
});

describe("formatPath", () => {
  it.each([
    [[], ""],
    [["naming", "prefix"], "naming.prefix"],
    [["servers", 1, "transport"], "servers[1].transport"],
    [["servers", 0, "env", "API_KEY"], "servers[0].env.API_KEY"],
    [["servers", 0, "headers", "X-Api-Key"], "servers[0].headers.X-Api-Key"],
    [["servers", 0, "headers", "a.b"], 'servers[0].headers["a.b"]'],
    [["servers", 0, "env", ""], 'servers[0].env[""]'],
  ] as const)("%j → %s", (path, expected) => {
    expect(formatPath(path)).toBe(expected);
  });
});

describe("interpolateTree", () => {
  it("interpolates string values at any depth and leaves keys and other types alone", () => {
    const input = { "${HOST}": "${HOST}", list: ["${PORT}", 3, true, null], nested: { deep: ["x${HOST}"] } };
    const result = interpolateTree(input, env);
    expect(result.issues).toEqual([]);
    expect(result.value).toEqual({
      "${HOST}": "example.com",
      list: ["8443", 3, true, null],
      nested: { deep: ["xexample.com"] },
    });
    expect([...result.substituted.keys()]).toEqual(['["${HOST}"]', "list[0]", "nested.deep[0]"]);
  });

  it("reports each failure at its path and blanks the value", () => {
    const result = interpolateTree({ servers: [{ env: { KEY: "${SECRET_X}" } }, { url: "${URL}" }] }, env);
    expect(result.issues).toEqual([
      { path: ["servers", 0, "env", "KEY"], message: "environment variable SECRET_X is not set" },
      { path: ["servers", 1, "url"], message: "environment variable URL is not set" },
    ]);
    expect(result.value).toEqual({ servers: [{ env: { KEY: "" } }, { url: "" }] });
  });

  it("does not mutate its input, and keeps a __proto__ key as an own key", () => {
    const input = JSON.parse('{"a": "${HOST}", "__proto__": {"polluted": "yes"}}') as Record<string, unknown>;
    const result = interpolateTree(input, env).value as Record<string, unknown>;
    expect(input.a).toBe("${HOST}");
    expect(Object.hasOwn(result, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
    expect((result as { polluted?: unknown }).polluted).toBeUndefined();
  });
});
