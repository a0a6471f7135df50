#!/usr/bin/env bash
# Installs the graphql-http audit suite from the committed lock file; a no-op when up to date.
set -euo pipefail
cd "$(dirname "$0")"
stamp=node_modules/.package-lock.json
if [[ -f "$stamp" && -d node_modules/graphql-http && "$stamp" -nt package-lock.json ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
