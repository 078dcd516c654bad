#!/usr/bin/env bash
# Installs the Node.js that CI runs the suite on (the version in .node-version, a current LTS) into
# .ci/node, from the node-linux-<arch> package on npm: no system install, no root, and the machine's
# own Node (any version npm runs on) is only used to fetch it. Prints the bin directory to put first
# on PATH. Idempotent: quick when the right version is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(tr -d '[:space:]' < .node-version)"
case "$(uname -m)" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *)
    echo "No node-linux package for $(uname -m): install Node.js $version yourself and put it on PATH" >&2
    exit 1
    ;;
esac
bin_dir="$PWD/.ci/node/node_modules/node-linux-$arch/bin"
if [ ! -x "$bin_dir/node" ] || [ "$("$bin_dir/node" --version)" != "v$version" ]; then
  echo "Installing Node.js $version (node-linux-$arch from npm) into .ci/node…" >&2
  rm -rf .ci/node
  mkdir -p .ci/node
  npm install --prefix .ci/node --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "node-linux-$arch@$version" >&2
fi
echo "$bin_dir"
