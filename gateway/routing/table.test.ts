import { describe, expect, it } from "vitest";
import { definitionHash } from "./hash.ts";
import { build, catalog, table, tool } from "./test-helpers.ts";
import type { Setup } from "./test-helpers.ts";

const one: Setup["servers"] = [{ name: "files", catalog: catalog({ tools: ["read", "write"], prompts: ["summarize"] }) }];
const two: Setup["servers"] = [
  { name: "files", catalog: catalog({ tools: ["read", "write"], prompts: ["summarize"] }) },
  { name: "web", catalog: catalog({ tools: ["fetch"], prompts: ["browse"] }) },
];

describe("exposed names: prefix mode × server count", () => {
  const cases: Array<{ name: string; setup: Setup; tools: string[]; prompts: string[] }> = [
    { name: "always, 1 server", setup: { naming: { prefix: "always" }, servers: one }, tools: ["files__read", "files__write"], prompts: ["files__summarize"] },
    {
      name: "always, 2 servers",
      setup: { naming: { prefix: "always" }, servers: two },
      tools: ["files__read", "files__write", "web__fetch"],
      prompts: ["files__summarize", "web__browse"],
    },
    { name: "when-needed, 1 server", setup: { naming: { prefix: "when-needed" }, servers: one }, tools: ["read", "write"], prompts: ["summarize"] },
    {
      name: "when-needed, 2 servers",
      setup: { naming: { prefix: "when-needed" }, servers: two },
      tools: ["files__read", "files__write", "web__fetch"],
      prompts: ["files__summarize", "web__browse"],
    },
    {
      name: "when-needed counts configured servers, even one without a catalog",
      setup: { servers: [...one, { name: "down" }] },
      tools: ["files__read", "files__write"],
      prompts: ["files__summarize"],
    },
    { name: "never, 1 server", setup: { naming: { prefix: "never" }, servers: one }, tools: ["read", "write"], prompts: ["summarize"] },
    { name: "never, 2 servers", setup: { naming: { prefix: "never" }, servers: two }, tools: ["read", "write", "fetch"], prompts: ["summarize", "browse"] },
    {
      name: "alias replaces the name in the prefix",
      setup: { naming: { prefix: "always" }, servers: [{ ...two[0]!, alias: "fs" }, two[1]!] },
      tools: ["fs__read", "fs__write", "web__fetch"],
      prompts: ["fs__summarize", "web__browse"],
    },
    {
      name: "custom separator",
      setup: { naming: { prefix: "always", separator: "." }, servers: two },
      tools: ["files.read", "files.write", "web.fetch"],
      prompts: ["files.summarize", "web.browse"],
    },
    {
      name: "list order follows config order, then backend order",
      setup: { servers: [two[1]!, two[0]!] },
      tools: ["web__fetch", "files__read", "files__write"],
      prompts: ["web__browse", "files__summarize"],
    },
  ];
  it.each(cases)("$name", ({ setup, tools, prompts }) => {
    const built = table(setup);
    expect(built.tools.map((t) => t.name)).toEqual(tools);
    expect(built.prompts.map((p) => p.name)).toEqual(prompts);
  });

  it("routes exposed names back to server and original name", () => {
    const built = table({ naming: { prefix: "always" }, servers: [{ ...two[0]!, alias: "fs" }, two[1]!] });
    expect(built.tool("fs__read")).toMatchObject({ server: "files", originalName: "read", definition: { name: "fs__read" } });
    expect(built.tool("web__fetch")).toMatchObject({ server: "web", originalName: "fetch" });
    expect(built.prompt("fs__summarize")).toMatchObject({ server: "files", originalName: "summarize", definition: { name: "fs__summarize" } });
    expect(built.tool("read")).toBeUndefined();
    expect(built.tool("files__read")).toBeUndefined();
    expect(built.prompt("fs__read")).toBeUndefined();
  });

  it("keeps the rest of the definition and leaves the backend's object alone", () => {
    const original = tool("read", { description: "Reads", annotations: { readOnlyHint: true } });
    const built = table({ naming: { prefix: "always" }, servers: [{ name: "files", catalog: catalog({ tools: [original] }) }] });
    expect(built.tools[0]).toEqual({ ...original, name: "files__read" });
    expect(original.name).toBe("read");
  });

  it("uses Object keys safely: names like __proto__ and constructor", () => {
    const built = table({ naming: { prefix: "never" }, servers: [{ name: "a", catalog: catalog({ tools: ["__proto__", "constructor"] }) }] });
    expect(built.tool("__proto__")?.originalName).toBe("__proto__");
    expect(built.tool("constructor")?.originalName).toBe("constructor");
    expect(built.tool("toString")).toBeUndefined();
  });
});

describe("collisions", () => {
  const cases: Array<{ name: string; setup: Setup; errors: Array<string | RegExp> }> = [
    {
      name: "never mode, same tool on two servers",
      setup: { naming: { prefix: "never" }, servers: [{ name: "a", catalog: catalog({ tools: ["search"] }) }, { name: "b", catalog: catalog({ tools: ["search"] }) }] },
      errors: [
        'tool name "search" is exposed by both server "a" (tool "search") and server "b" (tool "search"); set naming.prefix to "always" (or "when-needed" with several servers) so that names carry their server\'s prefix, or leave the tool out of one server with its tools.deny',
      ],
    },
    {
      name: "never mode, prompts",
      setup: { naming: { prefix: "never" }, servers: [{ name: "a", catalog: catalog({ prompts: ["p"] }) }, { name: "b", catalog: catalog({ prompts: ["p"] }) }] },
      errors: [/^prompt name "p" is exposed by both server "a" \(prompt "p"\) and server "b" \(prompt "p"\); set naming\.prefix/],
    },
    {
      name: "never mode, every collision reported",
      setup: {
        naming: { prefix: "never" },
        servers: [
          { name: "a", catalog: catalog({ tools: ["x", "y"] }) },
          { name: "b", catalog: catalog({ tools: ["x", "y"] }) },
          { name: "c", catalog: catalog({ tools: ["x"] }) },
        ],
      },
      errors: [/^tool name "x" .* "a" .* "b"/, /^tool name "y" .* "a" .* "b"/, /^tool name "x" .* "a" .* "c"/],
    },
    {
      name: "prefixed names can still collide through the separator",
      setup: {
        naming: { prefix: "always", separator: "-" },
        servers: [{ name: "a", catalog: catalog({ tools: ["b-c"] }) }, { name: "a-b", catalog: catalog({ tools: ["c"] }) }],
      },
      errors: [
        'tool name "a-b-c" is exposed by both server "a" (tool "b-c") and server "a-b" (tool "c"); give one of the servers an alias, or pick a naming.separator that the names do not contain, or leave the tool out of one server with its tools.deny',
      ],
    },
  ];
  it.each(cases)("$name", ({ setup, errors }) => {
    const result = build(setup);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toHaveLength(errors.length);
    errors.forEach((expected, index) => {
      if (typeof expected === "string") expect(result.errors[index]).toBe(expected);
      else expect(result.errors[index]).toMatch(expected);
    });
  });

  it.each([
    ["a deny on one side", { tools: { deny: ["search"] } }],
    ["an allow on one side", { tools: { allow: ["other"] } }],
  ])("never mode is fine with %s", (_label, filter) => {
    const result = build({
      naming: { prefix: "never" },
      servers: [{ name: "a", catalog: catalog({ tools: ["search"] }) }, { name: "b", ...filter, catalog: catalog({ tools: ["search", "other"] }) }],
    });
    expect(result.ok).toBe(true);
  });

  it("a backend listing one tool twice is a warning, not a collision", () => {
    const result = build({ servers: [{ name: "a", catalog: catalog({ tools: [tool("t", { description: "1" }), tool("t", { description: "2" })] }) }] });
    expect(result.ok && [result.table.tools.map((t) => t.description), result.warnings]).toEqual([
      ["1"],
      ['server "a": tool "t" is listed twice; the first is kept'],
    ]);
  });
});

describe("tool filters", () => {
  const names = ["read_file", "write_file", "delete_file", "search", "admin_reset"];
  it.each([
    ["none", undefined, names],
    ["allow", { allow: ["read_*", "search"] }, ["read_file", "search"]],
    ["deny", { deny: ["delete_*", "admin_?????"] }, ["read_file", "write_file", "search"]],
    ["allow and deny", { allow: ["*_file"], deny: ["d*"] }, ["read_file", "write_file"]],
  ])("%s", (_label, tools, expected) => {
    const built = table({ naming: { prefix: "never" }, servers: [{ name: "a", tools, catalog: catalog({ tools: names, prompts: ["delete_file"] }) }] });
    expect(built.tools.map((t) => t.name)).toEqual(expected);
    expect(built.prompts.map((p) => p.name)).toEqual(["delete_file"]);
  });

  it("matches the original name, not the prefixed one", () => {
    const built = table({ naming: { prefix: "always" }, servers: [{ name: "a", tools: { allow: ["read*"] }, catalog: catalog({ tools: names }) }] });
    expect(built.tools.map((t) => t.name)).toEqual(["a__read_file"]);
  });
});

describe("invalid exposed names are left out with a warning", () => {
  const long = "t".repeat(125);
  const cases: Array<{ name: string; setup: Setup; tools: string[]; warnings: string[] }> = [
    {
      name: "too long after the prefix",
      setup: { naming: { prefix: "always" }, servers: [{ name: "srv", catalog: catalog({ tools: [long, "ok"] }) }] },
      tools: ["srv__ok"],
      warnings: [
        `server "srv": tool "${long}" left out: its exposed name "srv__${long}" breaks the MCP tool-name rules (1-128 characters of A-Z a-z 0-9 _ - .): it is 130 characters long, more than 128`,
      ],
    },
    {
      name: "exactly 128 is fine",
      setup: { naming: { prefix: "always" }, servers: [{ name: "s", catalog: catalog({ tools: ["t".repeat(125)] }) }] },
      tools: [`s__${"t".repeat(125)}`],
      warnings: [],
    },
    {
      name: "bad characters",
      setup: { naming: { prefix: "never" }, servers: [{ name: "s", catalog: catalog({ tools: ["has space", "slash/y", "ünï", "fine-1.2_3"] }) }] },
      tools: ["fine-1.2_3"],
      warnings: ["has space", "slash/y", "ünï"].map(
        (name) => `server "s": tool "${name}" left out: its exposed name "${name}" breaks the MCP tool-name rules (1-128 characters of A-Z a-z 0-9 _ - .): it has characters outside A-Z a-z 0-9 _ - .`,
      ),
    },
    {
      name: "empty name",
      setup: { naming: { prefix: "never" }, servers: [{ name: "s", catalog: catalog({ tools: [""] }) }] },
      tools: [],
      warnings: ['server "s": tool "" left out: its exposed name "" breaks the MCP tool-name rules (1-128 characters of A-Z a-z 0-9 _ - .): it is empty'],
    },
    {
      name: "a tool without a name",
      setup: { servers: [{ name: "s", catalog: { ...catalog({}), tools: [{ inputSchema: { type: "object" } } as never] } }] },
      tools: [],
      warnings: ['server "s": a tool without a string name was left out'],
    },
  ];
  it.each(cases)("$name", ({ setup, tools, warnings }) => {
    const result = build(setup);
    if (!result.ok) throw new Error(result.errors.join("\n"));
    expect(result.table.tools.map((t) => t.name)).toEqual(tools);
    expect(result.warnings).toEqual(warnings);
  });

  it("a left-out tool does not collide", () => {
    const result = build({
      naming: { prefix: "never" },
      servers: [{ name: "a", catalog: catalog({ tools: ["x y"] }) }, { name: "b", catalog: catalog({ tools: ["x y"] }) }],
    });
    expect(result.ok).toBe(true);
  });
});

describe("hash", () => {
  const hashOf = (definition: ReturnType<typeof tool>) =>
    table({ servers: [{ name: "a", catalog: catalog({ tools: [definition] }) }] }).tool("t")?.hash;
  const base = tool("t", { description: "d", inputSchema: { type: "object", properties: { a: { type: "string" }, b: { type: "number" } } } });

  it("is the sha256 hex of the backend's original definition", () => {
    expect(hashOf(base)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashOf(base)).toBe(definitionHash(base));
  });

  it.each([
    ["top-level key order", { inputSchema: base.inputSchema, description: "d", name: "t" }],
    ["nested key order", { ...base, inputSchema: { properties: { b: { type: "number" }, a: { type: "string" } }, type: "object" } }],
  ])("is stable across %s", (_label, reordered) => {
    expect(hashOf(reordered as typeof base)).toBe(hashOf(base));
  });

  it.each([
    ["description", { ...base, description: "changed" }],
    ["schema", { ...base, inputSchema: { type: "object", properties: { a: { type: "integer" } } } }],
    ["annotations added", { ...base, annotations: { destructiveHint: true } }],
  ])("changes when the %s changes", (_label, edited) => {
    expect(hashOf(edited as typeof base)).not.toBe(hashOf(base));
  });

  it("does not depend on the exposed name", () => {
    const always = table({ naming: { prefix: "always" }, servers: [{ name: "a", catalog: catalog({ tools: [base] }) }] });
    expect(always.tool("a__t")?.hash).toBe(hashOf(base));
  });
});

describe("immutability", () => {
  const built = table({ servers: two });

  it.each([
    ["tools", () => (built.tools as unknown[]).push({})],
    ["prompts", () => (built.prompts as unknown[]).pop()],
    ["resources", () => (built.resources as unknown[]).push({})],
    ["resourceTemplates", () => (built.resourceTemplates as unknown[]).push({})],
    ["a definition", () => ((built.tools[0] as { name: string }).name = "x")],
    ["a route", () => ((built.tool("web__fetch") as { server: string }).server = "x")],
    ["the table", () => ((built as { version: number }).version = 99)],
    ["a lookup", () => ((built as { tool: unknown }).tool = () => undefined)],
  ])("%s cannot be changed", (_label, mutate) => {
    expect(mutate).toThrow(TypeError);
  });

  it("carries the version", () => {
    expect(table({ servers: two, version: 42 }).version).toBe(42);
  });
});

describe("2,000 tools", () => {
  it("looks every one up by exposed and by original name", () => {
    const servers = Array.from({ length: 4 }, (_, s) => ({
      name: `s${s}`,
      catalog: catalog({ tools: Array.from({ length: 500 }, (_, t) => `tool_${t}`) }),
    }));
    const built = table({ servers });
    expect(built.tools).toHaveLength(2000);
    for (let s = 0; s < 4; s++) {
      for (let t = 0; t < 500; t++) {
        const exposed = `s${s}__tool_${t}`;
        const route = built.tool(exposed);
        expect(route?.server).toBe(`s${s}`);
        expect(route?.originalName).toBe(`tool_${t}`);
      }
    }
    expect(built.tool("s4__tool_0")).toBeUndefined();
    expect(built.tool("s0__tool_500")).toBeUndefined();
  });
});
