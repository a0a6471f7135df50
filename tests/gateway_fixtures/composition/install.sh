#!/usr/bin/env bash
# Installs Apollo's composition (pinned in package-lock.json) for the cross-check tests.
# Idempotent: does nothing when node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: install Node.js 20+ to run the Apollo composition cross-check" >&2
  exit 1
fi
if [ -f node_modules/.package-lock.json ] && [ node_modules/.package-lock.json -nt package-lock.json ] \
  && [ -d node_modules/@apollo/composition ]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
