/**
 * Exposed names: how a backend's tool or prompt name looks to clients, and the spec's rules for tool names.
 *
 * MCP 2025-11-25 (server/tools, "Tool names"): 1 to 128 characters, case-sensitive, only A-Z a-z 0-9 _ - and .
 */
import type { NamingConfig } from "../config/schema.ts";

export const TOOL_NAME_MAX_LENGTH = 128;
const TOOL_NAME_ALPHABET = /^[A-Za-z0-9_.-]*$/;

/** Why `name` breaks the spec's tool-name rules, or undefined when it follows them. */
export function toolNameProblem(name: string): string | undefined {
  if (name.length === 0) return "it is empty";
  if (name.length > TOOL_NAME_MAX_LENGTH) {
    return `it is ${name.length} characters long, more than ${TOOL_NAME_MAX_LENGTH}`;
  }
  if (!TOOL_NAME_ALPHABET.test(name)) return "it has characters outside A-Z a-z 0-9 _ - .";
  return undefined;
}

export function isValidToolName(name: string): boolean {
  return toolNameProblem(name) === undefined;
}

/** Whether exposed names carry their server's prefix, given the mode and how many servers are configured. */
export function usesPrefix(naming: NamingConfig, configuredServers: number): boolean {
  return naming.prefix === "always" || (naming.prefix === "when-needed" && configuredServers > 1);
}

/** `label` is the server's alias, or its name when it has none. */
export function exposedName(label: string, originalName: string, separator: string, prefixed: boolean): string {
  return prefixed ? `${label}${separator}${originalName}` : originalName;
}
