#!/usr/bin/env bash
# Installs everything Gatehouse needs on a fresh machine, and nothing twice. Safe to re-run.
#   - npm dependencies (Node 24 arrives as the `node` devDependency; see README "Install scripts")
#   - a Python venv with the `mcp` SDK, for the interoperability tests
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS"

PYTHON_MCP_VERSION="2.3.0"

step() { printf '\n==> %s\n' "$*"; }

if [ ! -x node_modules/.bin/node ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  step "npm ci"
  npm ci --no-audit --no-fund
fi

if [ ! -x "$TOOLS/venv/bin/python" ] || ! "$TOOLS/venv/bin/python" -c "import mcp, sys; sys.exit(0)" 2>/dev/null; then
  step "python venv with mcp==$PYTHON_MCP_VERSION"
  python3 -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "mcp==$PYTHON_MCP_VERSION"
fi

step "setup done"
