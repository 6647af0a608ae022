#!/usr/bin/env bash
# Idempotent set-up used by the Makefile: Debian packages, the .venv, local services, the viewer build.
# Each step checks first and does nothing when already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

system_packages() {
  local missing=()
  while read -r pkg; do
    [[ -z "$pkg" || "$pkg" == \#* ]] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done < scripts/debian-packages.txt
  ((${#missing[@]} == 0)) && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

python_env() {
  if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating $VENV with $("$PYTHON" --version)"
    "$PYTHON" -m venv "$VENV"
  fi
  # --no-cache-dir: the torch install is several GB; a cached second copy once filled CI's disk.
  local pip=("$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir)
  # torch and torchvision first, pinned: unpinned they pull other multi-GB builds.
  if ! "$VENV/bin/python" -c 'import torch, torchvision' 2>/dev/null; then
    say "installing torch and torchvision"
    "${pip[@]}" "torch==2.14.1" "torchvision==0.29.1" 2>&1 | grep -v "is ignored: it is neither" || true
  fi
  say "installing imagehub and its dependencies into $VENV"
  "${pip[@]}" -e ".[all,dev]" 2>&1 | grep -v "is ignored: it is neither" || true
  "$VENV/bin/python" -c 'import imagehub, torch, dagster, fastapi' || { echo "python install failed" >&2; exit 1; }
}

postgres() {
  if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then return 0; fi
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && return 0; sleep 1; done
  echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2
  exit 1
}

viewer() {
  # Browser viewer widgets (viewer/: TypeScript + Vite) -> imagehub_api/static/viewer/, with
  # htmx and Swagger UI copied to imagehub_api/static/vendor/. Installs only when the lockfile
  # changed, builds only when a source is newer than the output or a copied file is missing.
  local dir=viewer out=imagehub_api/static/viewer/viewer.js stamp=viewer/node_modules/.imagehub-installed
  local vendored=(imagehub_api/static/vendor/htmx.min.js imagehub_api/static/vendor/swagger-ui/swagger-ui-bundle.js)
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "the viewer step needs Node.js (>= 20.19) and npm on PATH; install them (Debian: apt-get install nodejs npm)" >&2
    exit 1
  fi
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'; then
    echo "the viewer step needs Node.js >= 20.19 (Vite 8); found $(node --version)" >&2
    exit 1
  fi
  # The stamp is written only after a successful `npm ci`, so an interrupted install is redone.
  if [[ ! -f $stamp || $dir/package-lock.json -nt $stamp ]]; then
    say "installing the viewer's npm packages"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
  fi
  local missing=0 file
  for file in "${vendored[@]}"; do [[ -f $file ]] || missing=1; done
  if [[ ! -f $out ]] || ((missing)) ||
    [[ -n $(find "$dir/src" "$dir/package-lock.json" "$dir/vite.config.ts" "$dir"/tsconfig*.json -newer "$out" -print -quit) ]]; then
    say "building the viewer widgets"
    (cd "$dir" && npm run --silent build -- --logLevel warn)
  fi
}

for step in "$@"; do
  case "$step" in
    system) system_packages ;;
    python) python_env ;;
    postgres) postgres ;;
    viewer) viewer ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
  esac
done
