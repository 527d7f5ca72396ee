"""Runs the shared acceptance scenarios (../shared/acceptance, unchanged) against Trackway.

For each backend it starts a fresh `trackway server`, points MLFLOW_TRACKING_URI at it and runs
pytest on the shared folder with the current Python (whose MLflow client version is the one
under test). Usage: python tests/run_acceptance.py [--backend sqlite|postgres ...]
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "python"))
from conftest import ROOT, Server, new_pg_database  # noqa: E402

ACCEPTANCE = ROOT.parent / "shared" / "acceptance"

# The scenarios the finished issues cover. The rest of the folder needs artifacts and the model
# registry, which later issues add.
SCENARIOS = [
    "test_tracking.py::test_search_filter_grammar",
    "test_tracking.py::test_special_metric_values_and_lifecycle",
    "test_tracking.py::test_dataset_lineage",
]


def run(backend):
    drop = None
    with tempfile.TemporaryDirectory(prefix=f"trackway-acceptance-{backend}-") as tmp:
        if backend == "sqlite":
            uri = f"sqlite:///{tmp}/mlflow.db"
        else:
            uri, drop = new_pg_database()
        server = Server(uri, Path(tmp) / "server")
        try:
            env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
            args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
                    *[str(ACCEPTANCE / s) for s in SCENARIOS]]
            print(f"== acceptance on {backend} with {mlflow_version()}: {' '.join(SCENARIOS)}", flush=True)
            code = subprocess.call(args, cwd=ACCEPTANCE, env=env)
        finally:
            stopped = server.stop()
            if drop:
                drop()
        if stopped != 0:
            print(server.log_text())
            return stopped or 1
        return code


def mlflow_version():
    import mlflow

    return f"mlflow {mlflow.__version__}"


def main():
    if not ACCEPTANCE.is_dir():
        print(f"run_acceptance.py: {ACCEPTANCE} is missing; the shared scenarios live in "
              "../shared/acceptance next to the project")
        return 2
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgres"])
    backends = parser.parse_args().backend or ["sqlite", "postgres"]
    failures = [b for b in backends if run(b) != 0]
    if failures:
        print(f"acceptance scenarios failed on: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
