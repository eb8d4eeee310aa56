#!/usr/bin/env bash
# sdk.sh — build what the SDK tests (tools/e2e TestSDKWorkers) run:
# sdk/typescript compiled with its pinned TypeScript (npm ci from the
# committed package-lock.json, then tsc to sdk/typescript/dist). The
# Python SDK needs only python3 (standard library). node, npm and
# python3 come from the OS packages (scripts/deps.sh installs them).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
for cmd in python3 node npm; do
  if ! command -v "$cmd" >/dev/null; then
    echo "sdk: $cmd is missing: run scripts/deps.sh (it installs it from the OS packages)" >&2
    exit 1
  fi
done
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt 18 ]; then
  # Debian 12 packages Node 18, later releases 20+: both have global fetch.
  echo "sdk: node $(node --version) is too old: the TypeScript SDK needs Node 18+ (20+ recommended)" >&2
  exit 1
fi
cd "$ROOT/sdk/typescript"
npm ci --no-audit --no-fund --loglevel=error >/dev/null
npx --no-install tsc -p .
echo "sdk: sdk/typescript built (dist/), node $(node --version), $(python3 --version)" >&2
