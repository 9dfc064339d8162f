// Pure helpers for scripts/build-servers.ts, kept here because vitest only collects tests under gateway/,
// servers/ and test/. They decide what goes into a server image: which shared libraries the node binary needs,
// and whether a bundle still imports a package that the image will not have.
import { isBuiltin } from "node:module";

export interface LddLibraries {
  /** Absolute paths of every library ldd resolved, the dynamic loader included, in ldd's order, without repeats. */
  paths: string[];
  /** Sonames ldd could not find ("libfoo.so.1 => not found"). */
  missing: string[];
}

/**
 * Reads `ldd <binary>` output (glibc or musl). Virtual objects without a file (linux-vdso.so.1) are skipped,
 * and "statically linked" / "not a dynamic executable" give no paths at all.
 */
export function parseLddOutput(output: string): LddLibraries {
  const paths: string[] = [];
  const missing: string[] = [];
  for (const raw of output.split("\n")) {
    const line = raw.trim();
    const arrow = /^(\S+)\s+=>\s+(.*)$/.exec(line);
    if (arrow) {
      const target = (arrow[2] ?? "").replace(/\s*\(0x[0-9a-f]+\)$/i, "").trim();
      if (target === "not found") missing.push(arrow[1] ?? "");
      else if (target.startsWith("/") && !paths.includes(target)) paths.push(target);
      continue;
    }
    // The loader (and on musl the libc it doubles as) is listed by path alone: "/lib64/ld-linux-x86-64.so.2 (0x…)".
    const bare = /^(\/\S+)\s+\(0x[0-9a-f]+\)$/i.exec(line);
    if (bare?.[1] && !paths.includes(bare[1])) paths.push(bare[1]);
  }
  return { paths, missing };
}

/** Module specifiers a bundle loads at run time, as found in its syntax tree. */
export interface ModuleReferences {
  /** Literal specifiers of import/export-from declarations, import() and require()/__require() calls. */
  specifiers: string[];
  /** import() or require() calls whose argument is not a string literal, so cannot be checked. */
  computed: number;
}

type AstNode = { type?: unknown; [key: string]: unknown };

function literalString(node: unknown): string | undefined {
  const candidate = node as AstNode | null | undefined;
  return candidate?.type === "Literal" && typeof candidate.value === "string" ? candidate.value : undefined;
}

function isRequireCallee(node: unknown): boolean {
  const callee = node as AstNode | null | undefined;
  // The bundler's own createRequire wrapper is named __require (or __require$1 after renaming).
  return callee?.type === "Identifier" && typeof callee.name === "string" && /^(require|__require[\w$]*)$/.test(callee.name);
}

/**
 * Walks an ESTree program (from rolldown's parseAst) for the modules it loads. Strings that merely look like a
 * require, such as the code templates ajv keeps for standalone output, are not calls and so are not counted.
 */
export function moduleReferences(program: unknown): ModuleReferences {
  const specifiers = new Set<string>();
  let computed = 0;
  const pending: unknown[] = [program];
  while (pending.length) {
    const node = pending.pop();
    if (Array.isArray(node)) {
      pending.push(...node);
      continue;
    }
    if (node === null || typeof node !== "object") continue;
    const current = node as AstNode;
    let reference: unknown;
    let isReference = false;
    switch (current.type) {
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration":
        if (current.source) [reference, isReference] = [current.source, true];
        break;
      case "ImportExpression":
        [reference, isReference] = [current.source, true];
        break;
      case "CallExpression":
        if (isRequireCallee(current.callee)) [reference, isReference] = [(current.arguments as unknown[])[0], true];
        break;
    }
    if (isReference) {
      const specifier = literalString(reference);
      if (specifier === undefined) computed += 1;
      else specifiers.add(specifier);
    }
    for (const [key, value] of Object.entries(current)) {
      if (key !== "type" && value !== null && typeof value === "object") pending.push(value);
    }
  }
  return { specifiers: [...specifiers].sort(), computed };
}

/** The specifiers that are not Node builtins, i.e. that would need a node_modules the image does not have. */
export function nonBuiltinSpecifiers(specifiers: Iterable<string>): string[] {
  return [...specifiers].filter((specifier) => !isBuiltin(specifier));
}
