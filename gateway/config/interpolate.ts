/**
 * `${VAR}` interpolation in the string values of a parsed config, before validation.
 *
 *   ${VAR}            the variable's value; an error when it is unset (an empty value is used as is)
 *   ${VAR:-default}   the variable's value, or `default` when it is unset or empty (shell semantics)
 *   $${               a literal `${`
 *
 * Names are [A-Za-z_][A-Za-z0-9_]*. A default runs to the first `}` and is not itself interpolated.
 * Only string values are touched, never keys. Error messages name the variable, never its value.
 */

export type ConfigPath = readonly (string | number)[];

export interface InterpolationIssue {
  path: ConfigPath;
  message: string;
}

export interface InterpolationResult {
  value: unknown;
  issues: InterpolationIssue[];
  /**
   * Paths whose string value took text from the environment, with the resulting string. Validation messages at
   * these paths must not repeat it (it may be a secret).
   */
  substituted: Map<string, string>;
}

const VARIABLE = /^([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?$/;

/** Interpolates one string. `errors` is empty on success; `fromEnv` says whether any variable was read. */
export function interpolateString(
  text: string,
  env: NodeJS.ProcessEnv,
): { value: string; errors: string[]; fromEnv: boolean } {
  if (!text.includes("$")) return { value: text, errors: [], fromEnv: false };
  let out = "";
  const errors: string[] = [];
  let fromEnv = false;
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf("$", i);
    if (dollar === -1) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    if (text.startsWith("$${", dollar)) {
      out += "${";
      i = dollar + 3;
      continue;
    }
    if (!text.startsWith("${", dollar)) {
      out += "$";
      i = dollar + 1;
      continue;
    }
    const close = text.indexOf("}", dollar + 2);
    if (close === -1) {
      errors.push('unterminated "${" (write "$${" for a literal "${")');
      break;
    }
    const expression = text.slice(dollar + 2, close);
    i = close + 1;
    const match = VARIABLE.exec(expression);
    if (match === null) {
      errors.push(
        `invalid variable reference "\${${expression}}" (expected \${NAME} or \${NAME:-default}, NAME from [A-Za-z0-9_])`,
      );
      continue;
    }
    const name = match[1] as string;
    const fallback = match[2];
    const current = Object.hasOwn(env, name) ? env[name] : undefined;
    if (fallback !== undefined) {
      if (current !== undefined && current !== "") {
        out += current;
        fromEnv = true;
      } else {
        out += fallback;
      }
    } else if (current === undefined) {
      errors.push(`environment variable ${name} is not set`);
    } else {
      out += current;
      fromEnv = true;
    }
  }
  return { value: out, errors, fromEnv };
}

/** Spells a path the way error messages do: `servers[1].env.KEY`, `headers["x.y"]`; "" for the root. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (typeof segment === "symbol") out += `[${String(segment)}]`;
    else if (/^[A-Za-z_$][A-Za-z0-9_$-]*$/.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Returns a copy of `value` with every string interpolated. A string that fails keeps its unresolved text out of
 * the result (it becomes ""), and its path is reported; the caller drops validation issues at those paths.
 */
export function interpolateTree(value: unknown, env: NodeJS.ProcessEnv): InterpolationResult {
  const issues: InterpolationIssue[] = [];
  const substituted = new Map<string, string>();
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === "string") {
      const result = interpolateString(node, env);
      for (const message of result.errors) issues.push({ path: [...path], message });
      if (result.errors.length > 0) return "";
      if (result.fromEnv) substituted.set(formatPath(path), result.value);
      return result.value;
    }
    if (Array.isArray(node)) return node.map((item, index) => walk(item, [...path, index]));
    if (isPlainObject(node)) {
      // fromEntries defines own properties, so a "__proto__" key stays a key (and fails validation as unknown).
      return Object.fromEntries(Object.entries(node).map(([key, item]) => [key, walk(item, [...path, key])]));
    }
    return node;
  };
  return { value: walk(value, []), issues, substituted };
}
