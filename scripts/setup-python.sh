#!/usr/bin/env bash
# Creates .venv with Alembic and psycopg2 (what the example app and the tests run). Wheels are on
# disk on this workplace's machines (PyPI is not reachable); Debian's packages are the fallback.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/alembic ] && .venv/bin/alembic --version >/dev/null 2>&1; then
  exit 0
fi
echo "Setting up .venv with alembic and psycopg2-binary…"
rm -rf .venv
python3 -m venv .venv
local_index=()
[ -d /opt/pypi/simple ] && local_index=(--index-url file:///opt/pypi/simple)
if .venv/bin/pip install -q "${local_index[@]}" alembic psycopg2-binary 2>/dev/null \
  || .venv/bin/pip install -q alembic psycopg2-binary; then
  exit 0
fi
echo "pip could not install alembic: falling back to Debian's python3-alembic and python3-psycopg2"
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq alembic python3-psycopg2 >/dev/null
else
  echo "Run as root, or: sudo apt-get install alembic python3-psycopg2" >&2
  exit 1
fi
rm -rf .venv
/usr/bin/python3 -m venv --system-site-packages .venv
ln -sf /usr/bin/alembic .venv/bin/alembic
