#!/usr/bin/env bash
# The pinned opa, applied to policies/ (see policies/README.md). Uses .tools/bin/opa when present (npm run setup
# builds it), else `opa` on PATH, else $OPA when set.
#   scripts/policy.sh test                     opa check --strict, then opa test -v (the *_test.rego files)
#   scripts/policy.sh build [OPA BUILD ARGS]   the WASM bundle, policies/dist/bundle.tar.gz (or $POLICY_OUT);
#                                              extra args go to `opa build`, e.g. --signing-key KEY.pem
#   scripts/policy.sh check-capabilities       exit 0 only when policies/capabilities.json is current AND
#                                              rejects builtins the WASM SDK lacks (time.now_ns, io.jwt.decode,
#                                              http.send) while accepting one it has (glob.match)
#   scripts/policy.sh capabilities             regenerate policies/capabilities.json
set -euo pipefail
cd "$(dirname "$0")/.."

OPA_VERSION="1.22.2"
ENTRYPOINT="gatehouse/authz/decision"
CAPS="policies/capabilities.json"

die() { echo "policy: $*" >&2; exit 1; }

if [ -z "${OPA:-}" ]; then
  if [ -x .tools/bin/opa ]; then OPA=.tools/bin/opa
  elif command -v opa >/dev/null; then OPA=opa
  else die "no opa: run \`npm run setup\` (it builds opa v$OPA_VERSION into .tools/bin)"
  fi
fi
# Captured rather than piped into grep -q, which under pipefail can SIGPIPE opa and warn for nothing.
grep -qx "Version: $OPA_VERSION" <<<"$("$OPA" version 2>/dev/null)" \
  || echo "policy: warning: $OPA is not v$OPA_VERSION; results may differ from CI" >&2

# The policy sources: every .rego in policies/ except tests, and the data.
sources() {
  local f
  for f in policies/*.rego; do
    case "$f" in *_test.rego) ;; *) printf '%s\n' "$f" ;; esac
  done
  printf '%s\n' policies/data.json
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  test)
    mapfile -t src < <(sources)
    "$OPA" check --strict --capabilities "$CAPS" "${src[@]}"
    # Only .rego and data.json: capabilities.json and dist/ are not policy data.
    exec "$OPA" test -v "$@" policies/*.rego policies/data.json
    ;;
  build)
    mapfile -t src < <(sources)
    out="${POLICY_OUT:-policies/dist/bundle.tar.gz}"
    mkdir -p "$(dirname "$out")"
    # The manifest revision is a content hash of the sources, so the audit log can name the policy it ran.
    rev="${POLICY_REVISION:-$(cat "${src[@]}" | sha256sum | cut -c1-16)}"
    "$OPA" build -t wasm -e "$ENTRYPOINT" --capabilities "$CAPS" --revision "$rev" -o "$out" "$@" "${src[@]}"
    echo "policy: built $out (revision $rev)"
    ;;
  check-capabilities)
    command -v node >/dev/null || die "node is needed (run through npm or npx)"
    node policies/tools/capabilities.mjs --check
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    printf 'package probe\n\nallow if glob.match("a*", null, "abc")\n' > "$tmp/good.rego"
    "$OPA" build -t wasm -e probe/allow --capabilities "$CAPS" -o "$tmp/good.tar.gz" "$tmp/good.rego" >/dev/null \
      || die "a policy using glob.match was rejected: $CAPS is too narrow"
    fail=0
    for call in 'time.now_ns()' 'io.jwt.decode("a.b.c")' 'http.send({"method": "get", "url": "http://x"})'; do
      name="${call%%(*}"
      printf 'package probe\n\nallow if {\n\tx := %s\n\tx != null\n}\n' "$call" > "$tmp/bad.rego"
      if "$OPA" build -t wasm -e probe/allow --capabilities "$CAPS" -o "$tmp/bad.tar.gz" "$tmp/bad.rego" >"$tmp/err" 2>&1; then
        echo "policy: FAIL: a policy using $name built; $CAPS must reject it" >&2; fail=1
      elif grep -q "undefined function $name" "$tmp/err"; then
        echo "policy: ok: $name rejected at build time: $(grep -o "rego_type_error: undefined function $name" "$tmp/err")"
      else
        echo "policy: FAIL: building a policy using $name failed for another reason:" >&2; cat "$tmp/err" >&2; fail=1
      fi
    done
    exit "$fail"
    ;;
  capabilities)
    command -v node >/dev/null || die "node is needed (run through npm or npx)"
    exec node policies/tools/capabilities.mjs
    ;;
  *)
    echo "usage: scripts/policy.sh test | build [opa build args] | check-capabilities | capabilities" >&2
    exit 2
    ;;
esac
