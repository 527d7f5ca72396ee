#!/usr/bin/env bash
# The full benchmark: Trackway (release build), MLflow 3.17.2's own server and FastTrackML, each on
# a fresh SQLite database, then Trackway and MLflow on PostgreSQL. Extra arguments go to
# trackway-bench (e.g. --servers trackway,mlflow --databases sqlite).
# Needs: the Rust toolchain, python3 with venv and PyPI, a PostgreSQL server
# (TRACKWAY_TEST_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
say() { printf '\033[1m== %s\033[0m\n' "$*"; }

say "Building Trackway and the harness (release)"
cargo build --release --locked -p trackway -p trackway-bench

install() { # venv, check, packages...
  local venv="$1" check="$2"; shift 2
  if ! "$venv/bin/python" -c "$check" 2>/dev/null; then
    say "Installing $* into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
  fi
}
install .venv/mlflow-3.17.2 "import mlflow, sys; sys.exit(mlflow.__version__ != '3.17.2')" \
  mlflow==3.17.2 scikit-learn pytest "psycopg[binary]" requests
install .venv/fasttrackml "import importlib.metadata as m, sys; sys.exit(m.version('fasttrackml') != '0.6.0')" \
  fasttrackml==0.6.0

export TRACKWAY_TEST_DATABASE_URL="${TRACKWAY_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
say "Benchmark"
exec target/release/trackway-bench --trackway target/release/trackway \
  --mlflow .venv/mlflow-3.17.2/bin/mlflow --fml .venv/fasttrackml/bin/fml \
  --out bench/results.json "$@"
