import { describe, expect, it } from "vitest";
import { DETECTORS, maskSecrets, REDACTED, redactPointers } from "./redact.ts";

// Test secrets are assembled from parts so the file itself never trips a secret scanner.
const AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE";
const AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY";
const GCP_KEY = "AIza" + "0123456789abcdefghij-_ABCDEFGHIJKLM";
const GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8";
const GITHUB_PAT = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz";
const SLACK_TOKEN = "xoxb-" + "123456789012-abcdefABCDEF";
const SLACK_HOOK_PATH = "T00000000/B00000000/" + "XXXXXXXXXXXXXXXXXXXXXXXX";
const JWT = "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl";
const pem = (label: string) => `-----BEGIN ${label}-----\nMIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM\nbase64+body/==\n-----END ${label}-----`;

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

describe("redactPointers", () => {
  const doc = () =>
    deepFreeze({
      a: { "b/c": 1, "m~n": 2, "": 3, "~1": 4 },
      list: [{ x: 1 }, { x: 2 }],
      keep: { y: 1 },
      nothing: null,
    });

  it.each([
    { name: "~1 escapes /", pointers: ["/a/b~1c"], redacted: ["/a/b~1c"], at: (v: any) => v.a["b/c"] },
    { name: "~0 escapes ~", pointers: ["/a/m~0n"], redacted: ["/a/m~0n"], at: (v: any) => v.a["m~n"] },
    { name: "~01 is a literal ~1 key, not /", pointers: ["/a/~01"], redacted: ["/a/~01"], at: (v: any) => v.a["~1"] },
    { name: "an empty key", pointers: ["/a/"], redacted: ["/a/"], at: (v: any) => v.a[""] },
    { name: "an array index", pointers: ["/list/1/x"], redacted: ["/list/1/x"], at: (v: any) => v.list[1].x },
    { name: "a whole array item", pointers: ["/list/0"], redacted: ["/list/0"], at: (v: any) => v.list[0] },
    { name: "a null value (it exists)", pointers: ["/nothing"], redacted: ["/nothing"], at: (v: any) => v.nothing },
    { name: "the root", pointers: [""], redacted: [""], at: (v: any) => v },
    { name: "the root wins over anything beneath it", pointers: ["/a", ""], redacted: [""], at: (v: any) => v },
    { name: "an ancestor covers its descendants, in any order", pointers: ["/a/b~1c", "/a"], redacted: ["/a"], at: (v: any) => v.a },
    { name: "duplicates are reported once", pointers: ["/keep/y", "/keep/y"], redacted: ["/keep/y"], at: (v: any) => v.keep.y },
  ])("replaces $name", ({ pointers, redacted, at }) => {
    const input = doc();
    const result = redactPointers(input, pointers);
    expect(result.redacted).toEqual(redacted);
    expect(at(result.value)).toBe(REDACTED);
    expect(input).toEqual(doc());
  });

  it.each([
    { name: "a missing key", pointer: "/missing" },
    { name: "a path through a number", pointer: "/a/b~1c/deeper" },
    { name: "an index past the end", pointer: "/list/2" },
    { name: "the append index -", pointer: "/list/-" },
    { name: "an index with a leading zero", pointer: "/list/01" },
    { name: "a non-numeric index", pointer: "/list/x" },
    { name: "a pointer without a leading /", pointer: "a" },
    { name: "an invalid escape", pointer: "/a/~2" },
    { name: "an inherited property", pointer: "/keep/toString" },
  ])("ignores $name", ({ pointer }) => {
    const input = doc();
    const result = redactPointers(input, [pointer]);
    expect(result).toEqual({ value: input, redacted: [] });
    expect(result.value).toBe(input);
  });

  it("returns the pointers sorted, copies only the touched path and leaves the input as it was", () => {
    const input = doc();
    const before = structuredClone(input);
    const result = redactPointers(input, ["/list/1/x", "/a/m~0n", "/list/0/x"]);
    expect(result.redacted).toEqual(["/a/m~0n", "/list/0/x", "/list/1/x"]);
    expect(result.value).toEqual({ ...before, a: { ...before.a, "m~n": REDACTED }, list: [{ x: REDACTED }, { x: REDACTED }] });
    expect(input).toEqual(before);
    expect(result.value.keep).toBe(input.keep);
    expect(result.value.a).not.toBe(input.a);
  });

  it("treats a __proto__ key as data", () => {
    const input = deepFreeze(JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as Record<string, unknown>);
    const result = redactPointers(input, ["/__proto__/x"]);
    expect(result.redacted).toEqual(["/__proto__/x"]);
    expect(JSON.stringify(result.value)).toBe('{"__proto__":{"x":"[REDACTED]"},"y":2}');
    expect(Object.getPrototypeOf(result.value)).toBe(Object.prototype);
  });
});

describe("maskSecrets detectors", () => {
  it.each([
    // aws-access-key
    { detector: "aws-access-key", input: `key ${AWS_KEY} here`, output: "key [REDACTED:aws-access-key] here" },
    { detector: "aws-access-key", input: `id=ASIA${"Q".repeat(16)},`, output: "id=[REDACTED:aws-access-key]," },
    { detector: "", input: `key AKIA${"Q".repeat(15)} here`, output: `key AKIA${"Q".repeat(15)} here` },
    { detector: "", input: `key AKIA${"Q".repeat(17)} here`, output: `key AKIA${"Q".repeat(17)} here` },
    { detector: "", input: `xyz${AWS_KEY}`, output: `xyz${AWS_KEY}` },
    // aws-secret-key
    { detector: "aws-secret-key", input: `aws_secret_access_key=${AWS_SECRET}`, output: "aws_secret_access_key=[REDACTED:aws-secret-key]" },
    { detector: "aws-secret-key", input: `{"SecretAccessKey": "${AWS_SECRET}"}`, output: '{"SecretAccessKey": "[REDACTED:aws-secret-key]"}' },
    { detector: "", input: `value ${AWS_SECRET}`, output: `value ${AWS_SECRET}` },
    { detector: "", input: `aws_secret_access_key=${AWS_SECRET.slice(1)}`, output: `aws_secret_access_key=${AWS_SECRET.slice(1)}` },
    // gcp-api-key
    { detector: "gcp-api-key", input: `?key=${GCP_KEY}&q=1`, output: "?key=[REDACTED:gcp-api-key]&q=1" },
    { detector: "", input: `?key=${GCP_KEY.slice(0, -1)}&q=1`, output: `?key=${GCP_KEY.slice(0, -1)}&q=1` },
    // github-token
    { detector: "github-token", input: `token ${GHP}.`, output: "token [REDACTED:github-token]." },
    { detector: "github-token", input: GITHUB_PAT, output: "[REDACTED:github-token]" },
    { detector: "", input: `token ${GHP.slice(0, -1)}.`, output: `token ${GHP.slice(0, -1)}.` },
    { detector: "", input: `ghx_${GHP.slice(4)}`, output: `ghx_${GHP.slice(4)}` },
    // slack-token
    { detector: "slack-token", input: `Bearer ${SLACK_TOKEN}`, output: "Bearer [REDACTED:slack-token]" },
    {
      detector: "slack-token",
      input: `post to https://hooks.slack.com/services/${SLACK_HOOK_PATH} now`,
      output: "post to https://hooks.slack.com/services/[REDACTED:slack-token] now",
    },
    { detector: "", input: "xoxb-123456789", output: "xoxb-123456789" },
    { detector: "", input: "xoxq-1234567890abcdef", output: "xoxq-1234567890abcdef" },
    { detector: "", input: "see https://hooks.slack.com/ for details", output: "see https://hooks.slack.com/ for details" },
    // private-key
    { detector: "private-key", input: `a\n${pem("RSA PRIVATE KEY")}\nb`, output: "a\n[REDACTED:private-key]\nb" },
    { detector: "private-key", input: pem("OPENSSH PRIVATE KEY"), output: "[REDACTED:private-key]" },
    { detector: "private-key", input: pem("ENCRYPTED PRIVATE KEY"), output: "[REDACTED:private-key]" },
    { detector: "private-key", input: `${pem("EC PRIVATE KEY")} and ${pem("PRIVATE KEY")}`, output: "[REDACTED:private-key] and [REDACTED:private-key]" },
    { detector: "private-key", input: "x -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq (truncated", output: "x [REDACTED:private-key]" },
    { detector: "", input: pem("PUBLIC KEY"), output: pem("PUBLIC KEY") },
    { detector: "", input: pem("CERTIFICATE"), output: pem("CERTIFICATE") },
    // jwt
    { detector: "jwt", input: `Authorization: Bearer ${JWT}`, output: "Authorization: Bearer [REDACTED:jwt]" },
    { detector: "", input: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ", output: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ" },
    { detector: "", input: "eyJhbGciOiJIUzI1NiJ9.abc.def", output: "eyJhbGciOiJIUzI1NiJ9.abc.def" },
    // url-password
    { detector: "url-password", input: "https://bob:hunter2@host/x", output: "https://bob:[REDACTED:url-password]@host/x" },
    { detector: "url-password", input: "REDIS_URL=redis://:s3cret@cache:6379/0", output: "REDIS_URL=redis://:[REDACTED:url-password]@cache:6379/0" },
    { detector: "url-password", input: "postgres://u:p@ss@db/app", output: "postgres://u:[REDACTED:url-password]@db/app" },
    { detector: "", input: "https://host:8080/path?a=b@c", output: "https://host:8080/path?a=b@c" },
    { detector: "", input: "https://bob@host/x", output: "https://bob@host/x" },
    { detector: "", input: "mailto:bob@example.com", output: "mailto:bob@example.com" },
    // ordinary text
    { detector: "", input: "The secret key to success is patience, said the token ring admin.", output: "The secret key to success is patience, said the token ring admin." },
  ])("$detector: $input", ({ detector, input, output }) => {
    const result = maskSecrets({ text: input });
    expect(result.value).toEqual({ text: output });
    expect(result.detectors).toEqual(detector ? [detector] : []);
    expect(result.redacted).toEqual(detector ? ["/text"] : []);
  });

  it.each([
    { name: "password", input: { password: "hunter2" }, output: { password: "[REDACTED:sensitive-key]" } },
    { name: "API-Key (case, -)", input: { "API-Key": 12345 }, output: { "API-Key": "[REDACTED:sensitive-key]" } },
    { name: "clientSecret (camelCase)", input: { clientSecret: null }, output: { clientSecret: "[REDACTED:sensitive-key]" } },
    { name: "authorization holding an object", input: { authorization: { scheme: "Basic" } }, output: { authorization: "[REDACTED:sensitive-key]" } },
    { name: "private_key, access_token, refresh_token, passwd", input: { private_key: 1, access_token: 2, refresh_token: 3, passwd: 4 }, output: { private_key: "[REDACTED:sensitive-key]", access_token: "[REDACTED:sensitive-key]", refresh_token: "[REDACTED:sensitive-key]", passwd: "[REDACTED:sensitive-key]" } },
    { name: "near misses", input: { max_tokens: 100, token_count: 3, secretary: "bob", tokens: ["a"], passwords_checked: true }, output: { max_tokens: 100, token_count: 3, secretary: "bob", tokens: ["a"], passwords_checked: true } },
  ])("sensitive-key: $name", ({ input, output }) => {
    const result = maskSecrets(deepFreeze(input));
    expect(result.value).toEqual(output);
    const changed = Object.keys(output).filter((k) => (output as Record<string, unknown>)[k] === "[REDACTED:sensitive-key]");
    expect(result.detectors).toEqual(changed.length > 0 ? ["sensitive-key"] : []);
    expect(result.redacted).toEqual(changed.map((k) => `/${k}`).sort());
  });

  it("lists every detector once, with a description", () => {
    expect(DETECTORS.map((d) => d.name).sort()).toEqual(
      ["aws-access-key", "aws-secret-key", "gcp-api-key", "github-token", "jwt", "private-key", "sensitive-key", "slack-token", "url-password"],
    );
    for (const d of DETECTORS) expect(d.description).not.toBe("");
  });
});

describe("maskSecrets walk", () => {
  it("masks at any depth, leaves keys and non-strings alone, reports sorted pointers and detectors, and never mutates", () => {
    const input = deepFreeze({
      [AWS_KEY]: "a key is not masked",
      "a/b": [1, true, null, { deep: [`url https://u:pw@h and ${JWT}`] }],
      list: ["plain", GHP],
      n: 3,
      nested: { token: "t" },
    });
    const before = structuredClone(input);
    const result = maskSecrets(input);
    expect(result.value).toEqual({
      ...before,
      "a/b": [1, true, null, { deep: ["url https://u:[REDACTED:url-password]@h and [REDACTED:jwt]"] }],
      list: ["plain", "[REDACTED:github-token]"],
      nested: { token: "[REDACTED:sensitive-key]" },
    });
    expect(result.redacted).toEqual(["/a~1b/3/deep/0", "/list/1", "/nested/token"]);
    expect(result.detectors).toEqual(["github-token", "jwt", "sensitive-key", "url-password"]);
    expect(input).toEqual(before);
  });

  it.each([
    { name: "a number", input: 42 },
    { name: "null", input: null },
    { name: "a boolean", input: false },
    { name: "a clean object", input: { a: ["b", { c: 1 }] } },
  ])("returns $name as it is", ({ input }) => {
    const result = maskSecrets(input);
    expect(result.value).toBe(input);
    expect(result.redacted).toEqual([]);
    expect(result.detectors).toEqual([]);
  });

  it("masks a string at the root", () => {
    expect(maskSecrets(`id ${AWS_KEY}`)).toEqual({ value: "id [REDACTED:aws-access-key]", redacted: [""], detectors: ["aws-access-key"] });
  });

  it("finds nothing new in its own output, nor in pointer redaction's", () => {
    const once = maskSecrets({ a: `https://bob:${GHP}@github.com/x`, password: "p", b: REDACTED });
    expect(once.value.a).toBe("https://bob:[REDACTED:github-token]@github.com/x");
    const twice = maskSecrets(once.value);
    expect(twice).toEqual({ value: once.value, redacted: [], detectors: [] });
    expect(twice.value).toBe(once.value);
  });

  it("scans a string over 1 MiB", () => {
    const big = "x ".repeat(600_000) + AWS_KEY;
    expect(maskSecrets(big).value).toBe("x ".repeat(600_000) + "[REDACTED:aws-access-key]");
  });

  // No timing assertion: a pattern that backtracks catastrophically would not return at all on these.
  it.each([
    { name: "repeated PEM headers without an END", input: "-----BEGIN PRIVATE KEY-----".repeat(40_000) },
    { name: "dotted words before no ://", input: "a.".repeat(500_000) },
    { name: "a URL with colons and no @", input: "a://" + ":".repeat(1_000_000) },
    { name: "a URL with many @", input: "a://:" + "@".repeat(1_000_000) },
    { name: "an unterminated JWT", input: "eyJ" + "a".repeat(1_000_000) },
    { name: "a long GitHub-like run ending in _", input: "-ghp_" + "a".repeat(1_000_000) + "_" },
    { name: "repeated secret key contexts", input: "secret key ".repeat(100_000) },
    { name: "repeated access key prefixes", input: "AKIA".repeat(250_000) },
    { name: "a long Slack-like run", input: "xoxb-" + "-".repeat(1_000_000) + "!" },
  ])("stays linear on $name", ({ input }) => {
    const result = maskSecrets({ s: input });
    expect(typeof result.value.s).toBe("string");
  });
});
