#!/usr/bin/env bash
# Installs everything Gatehouse needs on a fresh machine, and nothing twice. Safe to re-run.
#   - npm dependencies (Node 24 arrives as the `node` devDependency; see README "Install scripts")
#   - a Python venv with the `mcp` SDK, for the interoperability tests
#   - a pinned `opa` (the Rego compiler that builds the policy WASM), built with Go into .tools/bin
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS"

PYTHON_MCP_VERSION="2.3.0"
OPA_VERSION="1.22.2"

step() { printf '\n==> %s\n' "$*"; }

# redis-server backs the Redis audit sink's tests (they start their own, on a free port); podman and runc run the
# container backends (runc, not crun, which fails on this kind of host's hybrid cgroups; naming runc in the same
# install makes apt take it for podman's "crun | runc" dependency). Debian's redis-server package would start a
# system instance: nothing needs it, so it is
# kept from starting during the install and stopped/disabled if it did start anyway.
APT_MISSING=()
for pkg_cmd in redis-server:redis-server podman:podman runc:runc; do
  command -v "${pkg_cmd#*:}" >/dev/null || APT_MISSING+=("${pkg_cmd%%:*}")
done
if [ "${#APT_MISSING[@]}" -gt 0 ]; then
  step "apt: ${APT_MISSING[*]}"
  [ "$(id -u)" -eq 0 ] || { echo "setup: installing ${APT_MISSING[*]} needs root (apt-get)" >&2; exit 1; }
  POLICY_RC=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    POLICY_RC=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' > "$POLICY_RC" && chmod +x "$POLICY_RC"
  fi
  (
    trap '[ -z "$POLICY_RC" ] || rm -f "$POLICY_RC"' EXIT
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${APT_MISSING[@]}"
  )
  # `systemctl disable` works without a running systemd too, so no later boot brings the system instance up.
  if [[ " ${APT_MISSING[*]} " == *" redis-server "* ]]; then
    if command -v systemctl >/dev/null; then systemctl disable redis-server >/dev/null 2>&1 || true; fi
    if [ -d /run/systemd/system ]; then systemctl stop redis-server >/dev/null 2>&1 || true; fi
    if [ -s /run/redis/redis-server.pid ]; then kill "$(cat /run/redis/redis-server.pid)" 2>/dev/null || true; fi
  fi
fi

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

if [ ! -x "$TOOLS/venv/bin/python" ] || ! "$TOOLS/venv/bin/python" -c "import mcp, sys; sys.exit(0)" 2>/dev/null; then
  step "python venv with mcp==$PYTHON_MCP_VERSION"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$PYTHON_MCP_VERSION"
fi

# `go install github.com/open-policy-agent/opa@vX` refuses modules with replace directives, so a throwaway
# module requires OPA and `go build`s its main package. Cold: ~2 min; Go's module and build caches make re-runs fast.
# Captured, not piped into grep -q: under pipefail an early grep exit can SIGPIPE opa (141) and force a rebuild.
opa_is_pinned() { local out; out="$("$1" version 2>/dev/null)" || return 1; grep -qx "Version: $OPA_VERSION" <<<"$out"; }
if ! opa_is_pinned "$TOOLS/bin/opa" && ! { command -v opa >/dev/null && opa_is_pinned opa; }; then
  step "opa v$OPA_VERSION (go build into .tools/bin)"
  command -v go >/dev/null || { echo "setup: Go is needed to build opa v$OPA_VERSION (or put opa v$OPA_VERSION on PATH)" >&2; exit 1; }
  mkdir -p "$TOOLS/bin"
  OPA_MOD="$(mktemp -d)"
  (
    trap 'rm -rf "$OPA_MOD"' EXIT
    cd "$OPA_MOD"
    printf 'module gatehouse.local/opa-build\n\ngo 1.26\n\nrequire github.com/open-policy-agent/opa v%s\n' "$OPA_VERSION" > go.mod
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/open-policy-agent/opa"\n' > tools.go
    go mod tidy 2>tidy.log || { cat tidy.log >&2; exit 1; }
    go build -o "$TOOLS/bin/opa.tmp" github.com/open-policy-agent/opa
    mv "$TOOLS/bin/opa.tmp" "$TOOLS/bin/opa"
  )
  opa_is_pinned "$TOOLS/bin/opa" || { echo "setup: the built opa does not report version $OPA_VERSION" >&2; exit 1; }
fi

# The embedded default config serves the shipped policy: build it so `gatehouse serve` works right after setup.
if [ ! -f policies/dist/bundle.tar.gz ] || [ -n "$(find policies -maxdepth 1 \( -name '*.rego' -o -name 'data.json' \) -newer policies/dist/bundle.tar.gz)" ]; then
  step "policy bundle (policies/dist/bundle.tar.gz)"
  bash scripts/policy.sh build >/dev/null
fi

# The default config runs servers/ as containers: build their images (seconds when nothing changed; the layer
# cache keeps them). Without an engine the gateway runs those servers as plain processes, with a warning.
if command -v podman >/dev/null; then
  step "server images (npm run servers:build)"
  npm run --silent servers:build
fi

# helm (the chart's lint and template tests, test/helm.test.ts), pinned like opa and built with Go into .tools/bin.
# helm's go.mod has no replace directives, so plain `go install module@version` works (no throwaway module);
# GOBIN is a temp folder so a failed build never leaves a half-written .tools/bin/helm. The -X flag makes
# `helm version` report the pin (a plain module build says "v3.22"). Cold (empty module and
# build caches, so downloading helm's ~180 required modules too; 2 cores): 1 min 47 s measured; re-runs skip it.
HELM_VERSION="3.22.0"
helm_is_pinned() { [ "$("$1" version --template '{{.Version}}' 2>/dev/null)" = "v$HELM_VERSION" ]; }
if ! helm_is_pinned "$TOOLS/bin/helm"; then
  step "helm v$HELM_VERSION (go install into .tools/bin)"
  command -v go >/dev/null || { echo "setup: Go is needed to build helm v$HELM_VERSION" >&2; exit 1; }
  mkdir -p "$TOOLS/bin"
  HELM_BIN="$(mktemp -d)"
  (
    trap 'rm -rf "$HELM_BIN"' EXIT
    GOBIN="$HELM_BIN" go install -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=v$HELM_VERSION" \
      "helm.sh/helm/v3/cmd/helm@v$HELM_VERSION"
    mv "$HELM_BIN/helm" "$TOOLS/bin/helm"
  )
  helm_is_pinned "$TOOLS/bin/helm" || { echo "setup: the built helm does not report version v$HELM_VERSION" >&2; exit 1; }
fi

step "setup done"
