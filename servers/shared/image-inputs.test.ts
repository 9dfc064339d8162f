// The helpers behind `npm run servers:build`: ldd parsing (glibc and musl output) and the bundle's imports check.
import { parseAst } from "rolldown/parseAst";
import { describe, expect, it } from "vitest";
import { moduleReferences, nonBuiltinSpecifiers, parseLddOutput } from "./image-inputs.ts";

describe("parseLddOutput", () => {
  it("lists glibc libraries and the loader by absolute path, skipping the vDSO", () => {
    const output = [
      "\tlinux-vdso.so.1 (0x00007ffd5a3f2000)",
      "\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f6082731000)",
      "\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f6082400000)",
      "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f608221e000)",
      "\t/lib64/ld-linux-x86-64.so.2 (0x00007f6082749000)",
      "",
    ].join("\n");
    expect(parseLddOutput(output)).toEqual({
      paths: [
        "/lib/x86_64-linux-gnu/libdl.so.2",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
      ],
      missing: [],
    });
  });

  it("lists musl's loader once although it is also libc", () => {
    const output = [
      "\t/lib/ld-musl-x86_64.so.1 (0x7f9d1c3b1000)",
      "\tlibstdc++.so.6 => /usr/lib/libstdc++.so.6 (0x7f9d1c000000)",
      "\tlibc.musl-x86_64.so.1 => /lib/ld-musl-x86_64.so.1 (0x7f9d1c3b1000)",
    ].join("\n");
    expect(parseLddOutput(output).paths).toEqual(["/lib/ld-musl-x86_64.so.1", "/usr/lib/libstdc++.so.6"]);
  });

  it("reports libraries that were not found, and nothing for a static binary", () => {
    expect(parseLddOutput("\tlibfoo.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n")).toEqual({
      paths: ["/lib/libc.so.6"],
      missing: ["libfoo.so.1"],
    });
    expect(parseLddOutput("\tstatically linked\n")).toEqual({ paths: [], missing: [] });
    expect(parseLddOutput("\tnot a dynamic executable\n")).toEqual({ paths: [], missing: [] });
  });
});

describe("moduleReferences", () => {
  const references = (code: string) => moduleReferences(parseAst(code));

  it("finds static imports, re-exports, import() and require calls", () => {
    const code = [
      'import fs from "node:fs";',
      'import "side-effect";',
      'export * from "re-exported";',
      'export { x } from "named-reexport";',
      'const lazy = () => import("lazy-package");',
      'const cjs = require("cjs-package");',
      'const wrapped = __require$1("node:path");',
    ].join("\n");
    expect(references(code)).toEqual({
      specifiers: ["cjs-package", "lazy-package", "named-reexport", "node:fs", "node:path", "re-exported", "side-effect"],
      computed: 0,
    });
  });

  it("ignores strings that only look like a require, and counts computed specifiers", () => {
    const code = [
      'const template = _`require("ajv/dist/runtime/validation_error").default`;',
      'const text = "require(\\"not-a-call\\")";',
      "const name = pick(); require(name); import(`./x-${name}`);",
      'object.require("method-not-require");',
    ].join("\n");
    expect(references(code)).toEqual({ specifiers: [], computed: 2 });
  });
});

describe("nonBuiltinSpecifiers", () => {
  it("keeps only what is not a Node builtin, with or without the node: prefix", () => {
    expect(nonBuiltinSpecifiers(["node:fs", "fs", "node:test", "path/posix", "zod", "@modelcontextprotocol/sdk/x.js", "./local.js"])).toEqual([
      "zod",
      "@modelcontextprotocol/sdk/x.js",
      "./local.js",
    ]);
  });
});
