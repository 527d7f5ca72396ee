#!/usr/bin/env bash
# Installs every test dependency and runs all of Trackway's tests, Rust and Python.
#
#   ./test.sh
#
# Needs: the Rust toolchain, python3 (3.10+) with venv and pip, curl, a reachable PyPI, the
# PostgreSQL server binaries (Debian: postgresql) and Chromium for the browser tests (Debian:
# chromium, at /usr/bin/chromium or TRACKWAY_CHROMIUM; .ci/run installs it). S3 tests run
# against moto's server, which this script installs from PyPI into .venv/tools and starts on a
# free loopback port. Where a PostgreSQL server already answers on 127.0.0.1:5432 (trust auth
# for user postgres) the tests use it; otherwise this script starts a throwaway cluster with
# initdb/pg_ctl and removes it at the end.
#
# Steps: cargo fmt/clippy checks, Rust tests (store suite on SQLite and PostgreSQL), then for
# each pinned MLflow client (3.17.2 and 2.22.5, each in its own virtual environment under
# .venv/) the end-to-end tests in tests/python and the shared acceptance scenarios on both
# backends; then the web UI: `trackway ui install` from PyPI into .venv/trackway-data, and the
# browser tests (Playwright's Python driver, no downloaded browser) in Debian's Chromium.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
MLFLOW_CLIENTS=("3.17.2" "2.22.5")
PG_PORT_DEFAULT=${TRACKWAY_PG_PORT:-5432}
CHROMIUM=${TRACKWAY_CHROMIUM:-/usr/bin/chromium}

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Fail before building anything when the browser is missing.
if [[ ! -x "$CHROMIUM" ]]; then
  echo "test.sh: Chromium not found at $CHROMIUM; the browser tests need it." >&2
  echo "Install Debian's package (apt-get install chromium) or set TRACKWAY_CHROMIUM." >&2
  exit 2
fi

# --- PostgreSQL ----------------------------------------------------------------------------------
pg_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

PG_TMP=""
MOTO_PID=""
cleanup() {
  [[ -n "$MOTO_PID" ]] && kill "$MOTO_PID" 2>/dev/null
  if [[ -n "$PG_TMP" ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$PG_TMP"
  fi
}
trap cleanup EXIT

as_pg() {
  # initdb refuses to run as root; use the postgres account when we are root.
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [[ -n "${TRACKWAY_TEST_DATABASE_URL:-}" ]]; then
  say "PostgreSQL: using TRACKWAY_TEST_DATABASE_URL"
elif pg_answers "$PG_PORT_DEFAULT"; then
  export TRACKWAY_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT_DEFAULT/postgres"
  say "PostgreSQL: using the server on 127.0.0.1:$PG_PORT_DEFAULT"
else
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [[ -x "$PG_BIN/initdb" ]] || PG_BIN=$(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/initdb)")
  if [[ ! -x "$PG_BIN/initdb" ]]; then
    echo "test.sh: no PostgreSQL server on 127.0.0.1:$PG_PORT_DEFAULT and no initdb to start one." >&2
    echo "Install the PostgreSQL server binaries (Debian: apt-get install postgresql)." >&2
    exit 2
  fi
  PG_TMP=$(mktemp -d /tmp/trackway-pg.XXXXXX)
  chmod 755 "$PG_TMP"
  [[ $(id -u) -eq 0 ]] && chown postgres "$PG_TMP"
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  say "PostgreSQL: starting a throwaway cluster on 127.0.0.1:$PG_PORT"
  as_pg "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --auth=trust >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -l "$PG_TMP/log" -w \
    -o "-h 127.0.0.1 -p $PG_PORT -k $PG_TMP" start >/dev/null
  export TRACKWAY_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
fi

# --- S3: moto's server from PyPI, on loopback --------------------------------------------------------
TOOLS="$ROOT/.venv/tools"
if ! "$TOOLS/bin/python" -c "import moto" 2>/dev/null; then
  say "Installing moto[server] (the S3-compatible test server) into $TOOLS"
  rm -rf "$TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi
S3_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TOOLS/bin/moto_server" -H 127.0.0.1 -p "$S3_PORT" >"${TMPDIR:-/tmp}/trackway-moto-$S3_PORT.log" 2>&1 &
MOTO_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$S3_PORT/" >/dev/null && break; sleep 0.1; done
export TRACKWAY_TEST_S3_ENDPOINT="http://127.0.0.1:$S3_PORT"
export MLFLOW_S3_ENDPOINT_URL="$TRACKWAY_TEST_S3_ENDPOINT"
export AWS_ACCESS_KEY_ID=trackway-test AWS_SECRET_ACCESS_KEY=trackway-test AWS_DEFAULT_REGION=us-east-1
say "S3: moto on $TRACKWAY_TEST_S3_ENDPOINT"

# --- Rust ----------------------------------------------------------------------------------------
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo build"
cargo build --workspace --locked
say "Rust tests (SQLite and PostgreSQL)"
cargo test --workspace --locked
export TRACKWAY_BIN="$ROOT/target/debug/trackway"
say "Web UI: trackway ui install (MLflow 3.17.2's UI, from PyPI, SHA-256 checked)"
export TRACKWAY_DATA_DIR="$ROOT/.venv/trackway-data"
"$TRACKWAY_BIN" ui install --data-dir "$TRACKWAY_DATA_DIR"
export TRACKWAY_TEST_OUTPUT="${TRACKWAY_TEST_OUTPUT:-$ROOT/target/test-output}"
say "Benchmark harness, small mode (Trackway only; proves bench/ works, asserts no times)"
"$ROOT/target/debug/trackway-bench" --small --trackway "$TRACKWAY_BIN" \
  --out "${TMPDIR:-/tmp}/trackway-bench-small-$$.json"

# --- Python: one virtual environment per MLflow client --------------------------------------------
for version in "${MLFLOW_CLIENTS[@]}"; do
  venv="$ROOT/.venv/mlflow-$version"
  if ! "$venv/bin/python" -c "import mlflow, sys; sys.exit(mlflow.__version__ != '$version')" 2>/dev/null; then
    say "Installing MLflow $version into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
      "mlflow==$version" scikit-learn pytest "psycopg[binary]" requests
  fi
  if [[ $version == 3.* ]] && ! "$venv/bin/python" -c "import playwright" 2>/dev/null; then
    "$venv/bin/pip" install --quiet --disable-pip-version-check "playwright==1.64.1"
  fi
  say "End-to-end tests with MLflow client $version"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore tests/python
  say "Acceptance scenarios with MLflow client $version"
  "$venv/bin/python" tests/run_acceptance.py
  if [[ $version == 3.* ]]; then
    say "Browser tests: MLflow's UI in headless Chromium (screenshots in $TRACKWAY_TEST_OUTPUT)"
    TRACKWAY_CHROMIUM="$CHROMIUM" "$venv/bin/python" -m pytest -q -p no:cacheprovider -W ignore tests/browser
  fi
done

say "All tests passed"
