/** Reading a Dockerfile and a .dockerignore without an engine, for test/dockerfile.test.ts. */
import { readdirSync } from "node:fs";
import path from "node:path";

// ---------------------------------------------------------------------------------------------------------------
// A Dockerfile parser: enough of the reference's rules for FROM, ARG, WORKDIR, COPY, RUN, USER, EXPOSE, VOLUME,
// HEALTHCHECK, ENTRYPOINT and CMD. Comment lines are dropped (also inside continuations), a trailing backslash
// continues the line, `--flag=value` options are split off, and exec (JSON array) forms are recognised.

export interface Instruction {
  keyword: string;
  /** Everything after the keyword and its flags, continuations joined. */
  rest: string;
  flags: Record<string, string>;
  /** The exec form, when `rest` is a JSON array of strings. */
  json: string[] | undefined;
  line: number;
}

export interface Stage {
  name: string | undefined;
  /** The image after ARG substitution. */
  base: string;
  instructions: Instruction[];
}

const FLAGGED = new Set(["FROM", "COPY", "ADD", "RUN", "HEALTHCHECK"]);

export function parseJsonArray(text: string): string[] | undefined {
  if (!text.startsWith("[")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return Array.isArray(value) && value.every((v) => typeof v === "string") ? value : undefined;
  } catch {
    return undefined;
  }
}

export function splitFlags(keyword: string, text: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = text;
  if (!FLAGGED.has(keyword)) return { flags, rest };
  for (;;) {
    const match = rest.match(/^--([a-z-]+)(?:=(\S*))?\s*/);
    if (!match) return { flags, rest };
    flags[match[1]!] = match[2] ?? "true";
    rest = rest.slice(match[0].length);
  }
}

export function parseInstructions(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  const instructions: Instruction[] = [];
  let index = 0;
  // Parser directives (# syntax=…) are comments as far as instructions go.
  while (index < lines.length) {
    const first = lines[index]!;
    if (first.trim() === "" || first.trimStart().startsWith("#")) {
      index++;
      continue;
    }
    const startLine = index + 1;
    let logical = "";
    for (;;) {
      const line = lines[index++] ?? "";
      const continued = /\\\s*$/.test(line);
      logical += (logical === "" ? "" : " ") + (continued ? line.replace(/\\\s*$/, "") : line).trim();
      if (!continued || index >= lines.length) break;
      // comment and empty lines inside a continuation are skipped
      while (index < lines.length && (lines[index]!.trim() === "" || lines[index]!.trimStart().startsWith("#"))) index++;
    }
    const match = logical.match(/^(\S+)\s*(.*)$/s);
    if (!match) continue;
    const keyword = match[1]!.toUpperCase();
    const { flags, rest } = splitFlags(keyword, match[2]!.trim());
    instructions.push({ keyword, rest, flags, json: parseJsonArray(rest), line: startLine });
  }
  return instructions;
}

export function substitute(text: string, args: Record<string, string>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, braced, bare) => args[braced ?? bare] ?? whole);
}

export function parseDockerfile(text: string): { globalArgs: Record<string, string>; stages: Stage[] } {
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const instruction of parseInstructions(text)) {
    if (instruction.keyword === "FROM") {
      const [image, as, name] = instruction.rest.split(/\s+/);
      if (image === undefined || (as !== undefined && (as.toUpperCase() !== "AS" || name === undefined))) throw new Error(`line ${instruction.line}: bad FROM`);
      stages.push({ name, base: substitute(image, globalArgs), instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.keyword !== "ARG") throw new Error(`line ${instruction.line}: ${instruction.keyword} before the first FROM`);
      const [key, value = ""] = instruction.rest.split(/=(.*)/s);
      globalArgs[key!] = value;
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { globalArgs, stages };
}

/** COPY's sources and destination, from either form. */
export function copyParts(instruction: Instruction): { sources: string[]; dest: string } {
  const parts = instruction.json ?? instruction.rest.split(/\s+/);
  if (parts.length < 2) throw new Error(`line ${instruction.line}: COPY needs a source and a destination`);
  return { sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

/** HEALTHCHECK's options and command (exec form), or undefined for NONE. */
export function healthcheckCommand(instruction: Instruction): string[] | undefined {
  const match = instruction.rest.match(/^CMD\s+(.*)$/s);
  if (!match) return undefined;
  return parseJsonArray(match[1]!) ?? ["/bin/sh", "-c", match[1]!];
}

export const last = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword).at(-1);
export const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);

// ---------------------------------------------------------------------------------------------------------------
// .dockerignore, with the semantics of Docker's pattern matcher: patterns in order, the last match wins, `!`
// re-includes, a pattern matching a parent folder matches everything under it, `**` spans folders.

export function patternRegex(pattern: string): RegExp {
  let out = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*" && pattern[i + 1] === "*") {
      i++;
      if (pattern[i + 1] === "/") {
        i++;
        out += "(?:.*/)?";
      } else {
        out += ".*";
      }
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else out += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

export function dockerignore(text: string): (relativePath: string) => boolean {
  const patterns = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const negated = l.startsWith("!");
      const cleaned = path.posix.normalize((negated ? l.slice(1) : l).trim().replace(/^\/+/, "")).replace(/\/+$/, "");
      return { negated, regex: patternRegex(cleaned) };
    });
  return (relativePath) => {
    const parts = path.posix.normalize(relativePath).replace(/\/+$/, "").split("/");
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
    let excluded = false;
    for (const { negated, regex } of patterns) {
      if (candidates.some((c) => regex.test(c))) excluded = !negated;
    }
    return excluded;
  };
}

export function filesUnder(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const relative = prefix === "" ? entry.name : `${prefix}/${entry.name}`;
    return entry.isDirectory() ? filesUnder(path.join(dir, entry.name), relative) : [relative];
  });
}

// ---------------------------------------------------------------------------------------------------------------
