#!/usr/bin/env bash
# `make demo`: the portal on :8000 and the Dagster UI on :3000, over the embedded
# default (SQLite + local disk under ./var), with sample datasets loaded once.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/var/dagster}
mkdir -p "$DAGSTER_HOME"
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"

"$BIN/imagehub" migrate
if [[ ! -e var/.samples-loaded ]]; then
  "$BIN/imagehub" samples && touch var/.samples-loaded
fi

# dagster dev runs the UI and the daemon (sensor, schedule, run queue) together.
"$BIN/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "${DAGSTER_PORT:-3000}" &
dagster_pid=$!
trap 'kill $dagster_pid 2>/dev/null || true' EXIT
echo "Dagster UI: http://127.0.0.1:${DAGSTER_PORT:-3000} (runs start within 30 s of each new commit)"
"$BIN/imagehub" serve
