#!/usr/bin/env bash
# `make demo`: the portal on :8000 (IMAGEHUB_PORT) and the Dagster UI on :3000 (DAGSTER_PORT),
# over the embedded default (SQLite + local disk under ./var), with sample datasets loaded once.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin

DAGSTER_PORT=${DAGSTER_PORT:-3000}
if "$BIN/python" -c "import socket, sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" \
    "$DAGSTER_PORT" 2>/dev/null; then
  echo "error: port $DAGSTER_PORT is taken: stop what listens there, or set DAGSTER_PORT" >&2
  exit 2
fi

export DAGSTER_HOME=${DAGSTER_HOME:-$PWD/var/dagster}
mkdir -p "$DAGSTER_HOME"
cp dagster.yaml "$DAGSTER_HOME/dagster.yaml"

"$BIN/imagehub" migrate
if [[ ! -e var/.samples-loaded ]]; then
  "$BIN/imagehub" samples && touch var/.samples-loaded
fi

# dagster dev runs the UI and the daemon (sensor, schedule, run queue) together.
export IMAGEHUB_DAGSTER_URL=${IMAGEHUB_DAGSTER_URL:-http://127.0.0.1:$DAGSTER_PORT}  # the portal's links
# Warnings only: the daemon's routine lines would scroll the admin password away.
"$BIN/dagster" dev -w workspace.yaml -h 127.0.0.1 -p "$DAGSTER_PORT" --log-level warning &
dagster_pid=$!
trap 'kill $dagster_pid 2>/dev/null || true' EXIT
echo "Dagster UI: $IMAGEHUB_DAGSTER_URL (runs start within 30 s of each new commit)"
"$BIN/imagehub" serve
