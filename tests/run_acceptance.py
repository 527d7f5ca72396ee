"""Runs the shared acceptance scenarios (../shared/acceptance, unchanged) against Trackway.

For each deployment (SQLite with local artifacts, PostgreSQL with S3 artifacts) it starts a
fresh `trackway server`, points MLFLOW_TRACKING_URI at it and runs pytest on the shared folder
with the current Python (whose MLflow client version is the one under test).
Usage: python tests/run_acceptance.py [--deployment sqlite+local|postgres+s3 ...]
"""
import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "python"))
from conftest import ROOT, Server, new_bucket, new_pg_database  # noqa: E402

ACCEPTANCE = ROOT.parent / "shared" / "acceptance"

# The scenarios the finished issues cover.
SCENARIOS = ["test_tracking.py", "test_artifacts.py", "test_registry.py"]


def run(deployment):
    drop = None
    with tempfile.TemporaryDirectory(prefix=f"trackway-acceptance-{deployment}-") as tmp:
        if deployment == "sqlite+local":
            uri = f"sqlite:///{tmp}/mlflow.db"
            artifacts = ["--artifacts-destination", f"{tmp}/mlartifacts"]
        else:
            uri, drop = new_pg_database()
            artifacts = ["--artifacts-destination", f"s3://{new_bucket()}/mlflow"]
        server = Server(uri, Path(tmp) / "server", artifacts)
        try:
            env = {**os.environ, "MLFLOW_TRACKING_URI": server.url}
            args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "ignore",
                    *[str(ACCEPTANCE / s) for s in SCENARIOS]]
            print(f"== acceptance on {deployment} with {mlflow_version()}: {' '.join(SCENARIOS)}", flush=True)
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
    parser.add_argument("--deployment", action="append", choices=["sqlite+local", "postgres+s3"])
    deployments = parser.parse_args().deployment or ["sqlite+local", "postgres+s3"]
    failures = [d for d in deployments if run(d) != 0]
    if failures:
        print(f"acceptance scenarios failed on: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
