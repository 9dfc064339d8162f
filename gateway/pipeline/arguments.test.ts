import { describe, expect, it } from "vitest";
import { ArgumentValidators } from "./arguments.ts";

const schema = (id?: string) => ({
  ...(id === undefined ? {} : { $id: id }),
  type: "object",
  properties: { n: { type: "number" } },
  required: ["n"],
});

describe("ArgumentValidators", () => {
  it.each([
    { name: "valid arguments", args: { n: 1 }, ok: true },
    { name: "a wrong type", args: { n: "one" }, ok: false, problem: /arguments\/n must be number/ },
    { name: "a missing property", args: {}, ok: false, problem: /must have required property 'n'/ },
    { name: "absent arguments (checked as {})", args: undefined, ok: false, problem: /required property/ },
  ])("$name", ({ args, ok, problem }) => {
    const result = new ArgumentValidators().check("h1", schema(), args);
    expect(result.ok).toBe(ok);
    if (!result.ok && problem) expect(result.problems).toMatch(problem);
  });

  it("two tools (or two versions of one) that share a $id are both validated", () => {
    const validators = new ArgumentValidators();
    const first = { ...schema("urn:same"), properties: { n: { type: "number" } } };
    const second = { $id: "urn:same", type: "object", properties: { s: { type: "string" } }, required: ["s"] };
    expect(validators.check("v1", first, { n: "x" }).ok).toBe(false);
    expect(validators.check("v2", second, { s: 3 }).ok).toBe(false);
    expect(validators.check("v2", second, { s: "ok" }).ok).toBe(true);
  });

  it("keeps working when the cache turns over (a fresh ajv replaces the old one)", () => {
    const validators = new ArgumentValidators(3);
    for (let i = 0; i < 10; i++) expect(validators.check(`h${i}`, schema(`urn:${i % 2}`), { n: "bad" }).ok).toBe(false);
    expect(validators.check("h-last", schema(), { n: 2 }).ok).toBe(true);
  });

  it("a schema ajv cannot compile leaves the arguments to the backend", () => {
    const result = new ArgumentValidators().check("broken", { type: "object", properties: { x: { type: "no-such-type" } } }, { x: 1 });
    expect(result.ok).toBe(true);
  });
});
