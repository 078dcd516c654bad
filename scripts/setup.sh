#!/usr/bin/env bash
# Installs what migration-gate's tests and demo need and is missing: PostgreSQL server + client,
# a Python venv with Alembic, the npm packages. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1 || ! command -v pg_restore >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing PostgreSQL server and client from Debian…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql postgresql-client >/dev/null
  else
    echo "PostgreSQL is missing: sudo apt-get install postgresql postgresql-client" >&2
    exit 1
  fi
fi
bash scripts/setup-python.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
