#!/usr/bin/env node
// Regenerates policies/capabilities.json: the builtins of the pinned OPA that a policy compiled with
// `opa build -t wasm` can use when it is evaluated by the npm @open-policy-agent/opa-wasm SDK.
//
//   node policies/tools/capabilities.mjs            # write policies/capabilities.json
//   node policies/tools/capabilities.mjs --check    # exit 1 when the file is stale (CI)
//   OPA=/path/to/opa node policies/tools/capabilities.mjs
//
// Input:  `opa capabilities --current` (the full builtin declarations of this OPA version).
// Output: the same document with `builtins` filtered to ALLOWED below and `wasm_abi_versions` set to the
//         ABI versions the SDK declares (an OPA built without its wasm runtime, like ours, omits them,
//         and `opa build -t wasm` accepts any ABI when they are missing).
// A builtin missing from ALLOWED makes `opa build --capabilities policies/capabilities.json` fail with
// `rego_type_error: undefined function NAME`, so the gap surfaces at build time, never at call time.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const POLICIES = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const ROOT = resolve(POLICIES, "..");
const OUT = join(POLICIES, "capabilities.json");
const SDK_DIR = join(ROOT, "node_modules", "@open-policy-agent", "opa-wasm");

// 1. Builtins OPA's wasm compiler implements natively inside policy.wasm (no host call at all).
//    Source of truth: OPA v1.22.2 internal/compiler/wasm/wasm.go, map `builtinsFunctions`
//    (each `ast.X.Name` resolved to its Rego name), plus `eq` and `assign`, which the planner compiles
//    away (IsWasmEnabled in the same file). Deprecated names (all, any, re_match, net.cidr_overlap) are
//    in that map too and kept for fidelity; `opa check --strict` still flags them.
const WASM_NATIVE = [
  // planner-handled
  "eq", "assign",
  // arithmetic and numbers
  "plus", "minus", "mul", "div", "abs", "round", "ceil", "floor", "rem", "numbers.range", "to_number",
  // arrays, sets, objects
  "array.concat", "array.flatten", "array.reverse", "array.slice",
  "set_diff", "and", "or", "intersection", "union",
  "object.filter", "object.get", "object.keys", "object.remove", "object.union", "object.union_n",
  "json.remove", "json.filter", "walk", "graph.reachable",
  "internal.member_2", "internal.member_3", // `x in xs`, `k, v in xs`
  // types
  "is_number", "is_string", "is_boolean", "is_array", "is_set", "is_object", "is_null", "type_name",
  // bits
  "bits.or", "bits.and", "bits.negate", "bits.xor", "bits.lsh", "bits.rsh",
  // aggregates
  "count", "sum", "product", "max", "min", "sort", "all", "any",
  // encoding
  "base64.is_valid", "base64.decode", "base64.encode", "base64url.encode", "base64url.decode",
  "json.marshal", "json.unmarshal", "json.is_valid",
  // net
  "net.cidr_contains", "net.cidr_overlap", "net.cidr_intersects",
  // comparison
  "equal", "gt", "gte", "lt", "lte", "neq",
  // strings
  "concat", "format_int", "indexof", "substring", "lower", "upper", "contains", "startswith", "endswith",
  "strings.reverse", "split", "replace", "strings.replace_n",
  "trim", "trim_left", "trim_prefix", "trim_right", "trim_suffix", "trim_space",
  "internal.template_string", // $"..." template strings
  // regex and glob (RE2 compiled into the module)
  "glob.match", "regex.is_valid", "regex.match", "re_match", "regex.find_all_string_submatch_n",
];

// 2. Builtins the SDK implements in JavaScript (host calls). Source of truth:
//    node_modules/@open-policy-agent/opa-wasm/src/builtins/{json,strings,regex,yaml}.js (v1.10.0).
//    Verified below against the installed SDK, so an SDK upgrade that changes the set fails loudly.
//    Semantics differ from OPA's Go implementation in places; see policies/README.md:
//      sprintf      -> sprintf-js vsprintf: scalars fine, composite values print as "[object Object]"
//      regex.split  -> JavaScript RegExp, not RE2
const SDK_JS = [
  "json.is_valid", // also native; the SDK's copy is never called
  "sprintf",
  "regex.split",
  "yaml.is_valid", "yaml.marshal", "yaml.unmarshal",
];

// Everything else is left out on purpose, notably: time.* (no clock in the SDK: use input.time),
// io.jwt.* and crypto.* (the gateway verifies tokens), http.send, net.lookup_ip_addr, opa.runtime,
// rand.intn, uuid.rfc4122, print/internal.print and trace (no output channel), internal.test_case.

function findOpa() {
  if (process.env.OPA) return process.env.OPA;
  const local = join(ROOT, ".tools", "bin", "opa");
  return existsSync(local) ? local : "opa";
}

function sdkBuiltinNames() {
  const require = createRequire(join(SDK_DIR, "package.json"));
  return Object.keys(require("./src/builtins/index.js")).sort();
}

function generate() {
  const opa = findOpa();
  const current = JSON.parse(execFileSync(opa, ["capabilities", "--current"], { encoding: "utf8" }));
  const byName = new Map(current.builtins.map((b) => [b.name, b]));
  const problems = [];

  const sdkHas = sdkBuiltinNames();
  const sdkListed = [...SDK_JS].sort();
  if (JSON.stringify(sdkHas) !== JSON.stringify(sdkListed)) {
    problems.push(`SDK_JS is [${sdkListed}] but the installed SDK implements [${sdkHas}]: review and update SDK_JS`);
  }
  const allowed = new Set([...WASM_NATIVE, ...SDK_JS]);
  for (const name of allowed) {
    if (!byName.has(name)) problems.push(`allow-listed builtin ${name} is not in \`${opa} capabilities --current\``);
  }
  if (problems.length) {
    for (const p of problems) console.error(`capabilities: ${p}`);
    process.exit(2);
  }

  const sdkCaps = JSON.parse(readFileSync(join(SDK_DIR, "capabilities.json"), "utf8"));
  const stripDescriptions = (v) =>
    Array.isArray(v) ? v.map(stripDescriptions)
    : v && typeof v === "object"
      ? Object.fromEntries(Object.entries(v).filter(([k]) => k !== "description").map(([k, x]) => [k, stripDescriptions(x)]))
      : v;

  const out = {
    builtins: current.builtins.filter((b) => allowed.has(b.name)).map(stripDescriptions),
    future_keywords: current.future_keywords,
    features: current.features,
    wasm_abi_versions: sdkCaps.wasm_abi_versions,
  };
  return JSON.stringify(out, null, 2) + "\n";
}

const text = generate();
if (process.argv.includes("--check")) {
  const have = existsSync(OUT) ? readFileSync(OUT, "utf8") : "";
  if (have !== text) {
    console.error("capabilities: policies/capabilities.json is stale; run `node policies/tools/capabilities.mjs`");
    process.exit(1);
  }
  console.log("capabilities: policies/capabilities.json is up to date");
} else {
  writeFileSync(OUT, text);
  const n = JSON.parse(text).builtins.length;
  console.log(`capabilities: wrote policies/capabilities.json (${n} builtins)`);
}
