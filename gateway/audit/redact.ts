/**
 * Redaction for audit records, applied before anything is written. Two layers: the JSON pointers a policy names
 * in its `redact` obligation (policies/authz.rego), and built-in detectors for credentials no policy anticipated.
 * Both copy instead of mutating, because the pipeline is still using the objects being recorded.
 */

export const REDACTED = "[REDACTED]";

type Span = [start: number, end: number];
interface Scanner { name: string; description: string; find(text: string): Span[] }

// Only arrays and plain objects are descended into: copying a class instance (Date, Buffer) with a spread would
// change how it serializes, and audit values are JSON anyway.
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function shallowCopy<C extends object>(container: C): C {
  if (Array.isArray(container)) return container.slice() as C;
  // Spread defines own data properties, so a "__proto__" key (JSON.parse makes those) stays a key, not a prototype.
  const copy = { ...container };
  return (Object.getPrototypeOf(container) === null ? Object.setPrototypeOf(copy, null) : copy) as C;
}

const get = (container: object, key: PropertyKey): unknown => (container as Record<PropertyKey, unknown>)[key];
// Keys set here are always own properties already, so plain assignment never reaches an inherited setter.
const put = (container: object, key: PropertyKey, value: unknown): void => {
  (container as Record<PropertyKey, unknown>)[key] = value;
};

// --- JSON pointers ------------------------------------------------------------------------------------------

function parsePointer(pointer: string): string[] | undefined {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return undefined;
  const tokens = pointer.slice(1).split("/");
  if (tokens.some((t) => /~(?![01])/.test(t))) return undefined;
  // ~1 before ~0, so "~01" decodes to "~1" rather than "/" (RFC 6901 section 4).
  return tokens.map((t) => t.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function childKey(node: unknown, token: string): PropertyKey | undefined {
  if (Array.isArray(node)) {
    if (!/^(?:0|[1-9][0-9]*)$/.test(token)) return undefined;
    const index = Number(token);
    return index < node.length && Object.hasOwn(node, index) ? index : undefined;
  }
  return isPlainObject(node) && Object.hasOwn(node, token) ? token : undefined;
}

/** Replaces the value at each RFC 6901 JSON pointer with REDACTED. Pointers that do not resolve are ignored. Never mutates `value`: copies only the containers along the touched paths. Returns the pointers actually replaced, sorted. "" (whole document) replaces the whole value. Handles ~0/~1 escapes and array indices. */
export function redactPointers<T>(value: T, pointers: readonly string[]): { value: T; redacted: string[] } {
  if (pointers.length === 0) return { value, redacted: [] };
  const parsed = [...new Set(pointers)].flatMap((pointer) => {
    const tokens = parsePointer(pointer);
    return tokens === undefined ? [] : [{ pointer, tokens }];
  });
  // Shallowest first: a pointer beneath one already replaced then no longer resolves, so it is not reported as
  // replaced when its value is gone with its ancestor's. The result does not depend on the order given.
  parsed.sort((a, b) => a.tokens.length - b.tokens.length);
  const copies = new WeakSet<object>();
  const own = (container: object): object => {
    if (copies.has(container)) return container;
    const copy = shallowCopy(container);
    copies.add(copy);
    return copy;
  };
  let root: unknown = value;
  const redacted: string[] = [];
  for (const { pointer, tokens } of parsed) {
    const keys: PropertyKey[] = [];
    let node = root;
    for (const token of tokens) {
      const key = childKey(node, token);
      if (key === undefined) break;
      keys.push(key);
      node = get(node as object, key);
    }
    if (keys.length !== tokens.length) continue;
    redacted.push(pointer);
    const last = keys.pop();
    if (last === undefined) {
      root = REDACTED;
      continue;
    }
    let parent = (root = own(root as object));
    for (const key of keys) {
      const child = own(get(parent, key) as object);
      put(parent, key, child);
      parent = child;
    }
    put(parent, last, REDACTED);
  }
  return { value: root as T, redacted: redacted.sort() };
}

// --- secret detectors ---------------------------------------------------------------------------------------
// Every pattern must stay linear on hostile input (arguments are attacker-controlled and strings are scanned at any
// size): each begins with a literal or a lookbehind that admits one start per run of token characters, and
// everything between the start and the secret is bounded.

/** Spans of the `secret` group if the pattern has one (the rest of the match is context to keep), else of the match. */
function matches(...patterns: RegExp[]): (text: string) => Span[] {
  return (text) =>
    patterns.flatMap((pattern) =>
      [...text.matchAll(pattern)].map((m): Span => {
        const span = m.indices?.groups?.secret ?? m.indices?.[0];
        return span ? [span[0], span[1]] : [m.index, m.index + m[0].length];
      }),
    );
}

const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----/g;

// Not one regex: a lazy body up to END rescans the rest of the text for every BEGIN, which is quadratic. A block
// without its END (a truncated value) is masked to the end of the text, as part of a key is still key material.
function privateKeys(text: string): Span[] {
  const spans: Span[] = [];
  let from = 0;
  for (;;) {
    PEM_BEGIN.lastIndex = from;
    const begin = PEM_BEGIN.exec(text);
    if (begin === null) return spans;
    PEM_END.lastIndex = begin.index + begin[0].length;
    const end = PEM_END.exec(text);
    from = end === null ? text.length : end.index + end[0].length;
    spans.push([begin.index, from]);
    if (end === null) return spans;
  }
}

// Run in this order, each on the previous one's output. url-password is last so that a token used as a URL
// password is reported as that token.
const SCANNERS: readonly Scanner[] = [
  { name: "private-key", description: "PEM private key blocks (RSA, EC, OPENSSH, ENCRYPTED, PKCS#8), BEGIN through END", find: privateKeys },
  {
    name: "aws-access-key",
    description: "AWS access key IDs: AKIA, ASIA, AGPA, AIDA, AROA, ANPA, ANVA or AIPA and 16 uppercase letters or digits",
    find: matches(/(?<![A-Za-z0-9])(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}(?![A-Za-z0-9])/dg),
  },
  {
    name: "aws-secret-key",
    description: "40-character AWS secret access keys following a secret key name (aws_secret_access_key=..., SecretAccessKey: ...)",
    find: matches(/secret[-_.\s]?(?:access[-_.\s]?)?key["']?(?:\s{0,16}[:=]>?|\s)\s{0,16}["']?(?<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/dgi),
  },
  {
    name: "gcp-api-key",
    description: "Google Cloud API keys: AIza and 35 characters of [0-9A-Za-z_-]",
    find: matches(/(?<![A-Za-z0-9_-])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/dg),
  },
  {
    name: "github-token",
    description: "GitHub tokens: ghp_, gho_, ghu_, ghs_ or ghr_ and 36+ letters or digits; github_pat_ fine-grained tokens",
    find: matches(/(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})(?![A-Za-z0-9_])/dg),
  },
  {
    name: "slack-token",
    description: "Slack tokens (xoxb-, xoxp-, xoxa-, xoxr-, xoxs-, xoxe-) and the secret path of Slack webhook URLs",
    find: matches(
      /(?<![A-Za-z0-9_-])xox[bpares]-[A-Za-z0-9-]{10,}/dg,
      /https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/(?<secret>[A-Za-z0-9_/-]+)/dg,
    ),
  },
  {
    name: "jwt",
    description: "JSON Web Tokens: three base64url segments, the first two starting with eyJ",
    find: matches(/(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]*\.eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/dg),
  },
  {
    name: "url-password",
    description: "The password in scheme://user:password@ URLs (only the password is masked)",
    // The password runs to the last @ before the path, as URL parsers read it, so an unescaped @ in it is covered.
    find: matches(/(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}:\/\/[^\s/?#@:]*:(?<secret>[^\s/?#"<>\\]+)@/dg),
  },
];

const SENSITIVE_KEY = "sensitive-key";

/** The built-in detectors, for docs and tests. */
export const DETECTORS: ReadonlyArray<{ name: string; description: string }> = Object.freeze([
  ...SCANNERS.map(({ name, description }) => Object.freeze({ name, description })),
  Object.freeze({
    name: SENSITIVE_KEY,
    description: "The whole value of a property named password, passwd, secret, client_secret, api_key, access_token, refresh_token, token, authorization or private_key (any case; - and _ ignored)",
  }),
]);

// Compared with - and _ removed and lower-cased, so apiKey, API-KEY and api_key are one name. Exact names only:
// max_tokens and secretary are ordinary.
const SENSITIVE_NAMES = new Set([
  "password", "passwd", "secret", "clientsecret", "apikey", "xapikey", "accesstoken", "refreshtoken", "token",
  "authorization", "proxyauthorization", "privatekey", "awssecretaccesskey", "secretaccesskey",
  "authtoken", "idtoken", "sessiontoken", "bearertoken", "cookie", "setcookie", "pwd", "passphrase",
]);
// The same few key names recur in every record, so the verdict is remembered. Keys come from clients: only short
// names are kept (long ones would pin memory, and V8 hashes very long strings by length alone, so they collide),
// and only so many.
const sensitiveVerdicts = new Map<string, boolean>();
const MAX_REMEMBERED_NAMES = 4096;
const MAX_REMEMBERED_NAME_LENGTH = 64;
function isSensitiveName(name: string): boolean {
  let verdict = sensitiveVerdicts.get(name);
  if (verdict === undefined) {
    verdict = SENSITIVE_NAMES.has(name.toLowerCase().replace(/[-_]/g, ""));
    if (name.length <= MAX_REMEMBERED_NAME_LENGTH && sensitiveVerdicts.size < MAX_REMEMBERED_NAMES) sensitiveVerdicts.set(name, verdict);
  }
  return verdict;
}

// Text already masked is left as it is, so masking twice reports nothing new and a later detector does not relabel
// an earlier one's mask.
const isMask = (value: unknown): boolean => typeof value === "string" && /^\[REDACTED(?::[a-z-]+)?\]$/.test(value);

/**
 * Every detector needs one of these literals, so a string without any skips them all: most strings in a record
 * (names, ids, paths, times) are clean, and one pass here is far cheaper than nine.
 */
const ANCHORS = /PRIVATE KEY|A(?:KIA|SIA|GPA|IDA|ROA|NPA|NVA|IPA|Iza)|secret|gh[pousr]_|github_pat_|xox[bpares]-|hooks\.slack\.com|eyJ|:\/\//i;

function maskString(text: string, fired: Set<string>): string {
  if (!ANCHORS.test(text)) return text;
  let out = text;
  for (const scanner of SCANNERS) {
    const spans = scanner.find(out).filter(([start, end]) => !isMask(out.slice(start, end)));
    if (spans.length === 0) continue;
    fired.add(scanner.name);
    spans.sort((a, b) => a[0] - b[0]);
    const mask = `[REDACTED:${scanner.name}]`;
    let result = "";
    let at = 0;
    for (const [start, end] of spans) {
      if (end <= at) continue;
      result += out.slice(at, Math.max(start, at)) + (start >= at ? mask : "");
      at = end;
    }
    out = result + out.slice(at);
  }
  return out;
}

const escapeToken = (key: string | number): string => (typeof key === "number" ? String(key) : key.replaceAll("~", "~0").replaceAll("/", "~1"));

/** The path from the root to the value being looked at; a pointer string is built only for a value that changes. */
type Path = Array<string | number>;
const pointerOf = (path: Path): string => path.map((token) => `/${escapeToken(token)}`).join("");

function maskValue(value: unknown, path: Path, redacted: string[], fired: Set<string>): unknown {
  if (typeof value === "string") {
    const masked = maskString(value, fired);
    if (masked !== value) redacted.push(pointerOf(path));
    return masked;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      path.push(i);
      const next = maskValue(item, path, redacted, fired);
      path.pop();
      if (!Object.is(next, item)) (copy ??= value.slice())[i] = next;
    }
    return copy ?? value;
  }
  if (!isPlainObject(value)) return value;
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const item = value[key];
    let next: unknown;
    path.push(key);
    if (isSensitiveName(key)) {
      if (isMask(item)) {
        path.pop();
        continue;
      }
      next = `[REDACTED:${SENSITIVE_KEY}]`;
      fired.add(SENSITIVE_KEY);
      redacted.push(pointerOf(path));
    } else next = maskValue(item, path, redacted, fired);
    path.pop();
    if (!Object.is(next, item)) put((copy ??= shallowCopy(value)), key, next);
  }
  return copy ?? value;
}

/** Walks every string (object values and array items, any depth; object KEYS are left alone) and masks secrets found by the built-in detectors, keeping the surrounding text. The value of a property with a sensitive NAME is replaced entirely with "[REDACTED:sensitive-key]", whatever its type. Never mutates input; unchanged containers are returned as they are. Returns the JSON pointers of the changed values (sorted) and the names of the detectors that fired (sorted, unique). */
export function maskSecrets<T>(value: T): { value: T; redacted: string[]; detectors: string[] } {
  const redacted: string[] = [];
  const fired = new Set<string>();
  const masked = maskValue(value, [], redacted, fired);
  return { value: masked as T, redacted: redacted.sort(), detectors: [...fired].sort() };
}
