/**
 * The tiny glob dialect of a server's `tools: {allow, deny}` filter: `*` matches any run of characters (also
 * none), `?` exactly one, everything else itself. No classes, no escapes: tool names are [A-Za-z0-9_.-] anyway.
 * Greedy matching that backtracks only to the last star: at worst O(pattern × name), never exponential, and no
 * regular expressions.
 */

/** Whether `text` matches `pattern` as a whole. Characters are code points, so `?` matches one emoji too. */
export function globMatch(pattern: string, text: string): boolean {
  const p = Array.from(pattern);
  const t = Array.from(text);
  let pi = 0;
  let ti = 0;
  let starAt = -1;
  let resumeAt = 0;
  while (ti < t.length) {
    const c = p[pi];
    if (c === "*") {
      starAt = pi++;
      resumeAt = ti;
    } else if (c !== undefined && (c === "?" || c === t[ti])) {
      pi++;
      ti++;
    } else if (starAt !== -1) {
      pi = starAt + 1;
      ti = ++resumeAt;
    } else {
      return false;
    }
  }
  while (p[pi] === "*") pi++;
  return pi === p.length;
}

export interface ToolFilter {
  allow?: readonly string[] | undefined;
  deny?: readonly string[] | undefined;
}

/**
 * A predicate over original tool names: with `allow`, a name must match one of its globs; a name matching any
 * `deny` glob is out. No filter (or an empty one) lets everything through. An empty `allow` list lets nothing in.
 */
export function toolFilter(filter: ToolFilter | undefined): (name: string) => boolean {
  const allow = filter?.allow;
  const deny = filter?.deny ?? [];
  if (allow === undefined && deny.length === 0) return () => true;
  return (name) =>
    (allow === undefined || allow.some((glob) => globMatch(glob, name))) && !deny.some((glob) => globMatch(glob, name));
}
