#!/usr/bin/env bash
# Installs what migration-gate's tests and demo need and is missing: PostgreSQL server + client,
# Chromium (the status page's browser test drives /usr/bin/chromium), a Python venv with Alembic,
# the npm packages. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || ! command -v pg_dump >/dev/null 2>&1 || ! command -v pg_restore >/dev/null 2>&1; then
  missing+=(postgresql postgresql-client)
fi
[ -x /usr/bin/chromium ] || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing ${missing[*]} from Debian…"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Missing Debian packages: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi
bash scripts/setup-python.sh
[ -d node_modules ] || npm ci --no-audit --no-fund
# pg-client install's tests serve this machine's own client packages from a fixture PGDG repository.
mkdir -p .cache/pgdg-debs && ls .cache/pgdg-debs/postgresql-client-15_*.deb .cache/pgdg-debs/libpq5_*.deb >/dev/null 2>&1 \
  || (cd .cache/pgdg-debs && { apt-get download -qq postgresql-client-15 libpq5 2>/dev/null || { apt-get update -qq && apt-get download -qq postgresql-client-15 libpq5; }; })
