#!/usr/bin/env bash
# Installs what the gateway benchmark needs: Apollo Gateway, Hive Gateway and Apollo
# composition from the committed lock file (npm ci), and the wrk load generator (Debian).
# Idempotent: a no-op when both are already in place.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v wrk >/dev/null 2>&1; then
  echo "installing wrk (Debian package)"
  sudo=""
  [[ "$(id -u)" == 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends wrk >/dev/null
fi

stamp=node_modules/.package-lock.json
if [[ -f "$stamp" && "$stamp" -nt package-lock.json && -d node_modules/@apollo/gateway \
      && -d node_modules/@graphql-hive/gateway && -d node_modules/@apollo/composition ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
