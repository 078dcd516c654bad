#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and plays the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/setup-python.sh
npm run --silent build
exec node dist/demo/demo.js
