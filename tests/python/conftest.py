"""End-to-end fixtures: the real `trackway` binary, driven by the real MLflow client.

Each test gets a fresh server on a fresh database: a SQLite file in a temporary directory, or a
new database on the PostgreSQL server named by TRACKWAY_TEST_DATABASE_URL (the README's test
command sets it, starting a throwaway cluster when none is running).
"""
import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "conformance"))


def trackway_bin():
    path = os.environ.get("TRACKWAY_BIN", str(ROOT / "target" / "debug" / "trackway"))
    if not Path(path).exists():
        pytest.exit(f"trackway binary not found at {path}: run `cargo build` first", returncode=2)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, proc, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {read_log(proc)}")
        try:
            if requests.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server at {url} did not become healthy in {timeout}s")


def read_log(proc):
    path = getattr(proc, "log_path", None)
    return Path(path).read_text() if path and Path(path).exists() else ""


class Server:
    """A running `trackway server` process."""

    def __init__(self, backend_uri, workdir, extra_args=(), env=None, port=None, prefix=""):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.backend_uri = backend_uri
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        log_path = self.workdir / f"trackway-{self.port}.log"
        self.log = open(log_path, "w")
        args = [trackway_bin(), "server", "--port", str(self.port)]
        if backend_uri:
            args += ["--backend-store-uri", backend_uri]
        args += list(extra_args)
        self.proc = subprocess.Popen(
            args, cwd=self.workdir, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        self.proc.log_path = log_path
        wait_healthy(self.url + prefix, self.proc)

    def stop(self, sig=None):
        if self.proc.poll() is None:
            if sig is None:
                self.proc.terminate()
            else:
                self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode

    def log_text(self):
        return read_log(self.proc)


def pg_admin_url():
    url = os.environ.get("TRACKWAY_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("TRACKWAY_SKIP_POSTGRES") == "1":
            return None
        pytest.exit("TRACKWAY_TEST_DATABASE_URL is not set (or set TRACKWAY_SKIP_POSTGRES=1)", returncode=2)
    return url


def new_pg_database():
    """Creates an empty PostgreSQL database and returns (uri, drop)."""
    import psycopg

    admin = pg_admin_url()
    name = f"trackway_e2e_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    base, _, _ = admin.rpartition("/")
    uri = f"{base}/{name}"

    def drop():
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    return uri, drop


def s3_endpoint():
    url = os.environ.get("TRACKWAY_TEST_S3_ENDPOINT")
    if not url:
        if os.environ.get("TRACKWAY_SKIP_S3") == "1":
            return None
        pytest.exit("TRACKWAY_TEST_S3_ENDPOINT is not set (or set TRACKWAY_SKIP_S3=1)", returncode=2)
    return url


def new_bucket():
    """A new bucket on the test S3 server (which accepts any credentials)."""
    name = f"trackway-e2e-{uuid.uuid4().hex[:16]}"
    requests.put(f"{s3_endpoint()}/{name}", timeout=10).raise_for_status()
    return name


class Deployment:
    """A database and an artifact store, as a server is started on them."""

    def __init__(self, kind, backend_uri, artifact_args, artifacts_root, bucket=None, drop=None):
        self.kind = kind
        self.backend_uri = backend_uri
        self.artifact_args = artifact_args
        self.artifacts_root = artifacts_root
        self.bucket = bucket
        self.drop = drop


# The two set-ups the issues require: SQLite with local artifacts, PostgreSQL with S3.
DEPLOYMENTS = ["sqlite+local", "postgres+s3"]


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request, tmp_path):
    if request.param == "sqlite+local":
        root = tmp_path / "mlartifacts"
        yield Deployment(request.param, f"sqlite:///{tmp_path / 'mlflow.db'}",
                         ["--artifacts-destination", str(root)], root)
        return
    if pg_admin_url() is None or s3_endpoint() is None:
        pytest.skip("PostgreSQL or S3 deliberately disabled")
    uri, drop = new_pg_database()
    bucket = new_bucket()
    yield Deployment(request.param, uri, ["--artifacts-destination", f"s3://{bucket}/mlflow"], None, bucket)
    drop()


BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend_uri(request, tmp_path):
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mlflow.db'}"
        return
    if pg_admin_url() is None:
        pytest.skip("PostgreSQL deliberately disabled with TRACKWAY_SKIP_POSTGRES=1")
    uri, drop = new_pg_database()
    yield uri
    drop()


@pytest.fixture
def server(deployment, tmp_path):
    """A fresh Trackway server on each deployment; the MLflow client points at it."""
    import mlflow

    srv = Server(deployment.backend_uri, tmp_path / "server", deployment.artifact_args)
    srv.deployment = deployment
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = srv.url
    mlflow.set_tracking_uri(srv.url)
    yield srv
    code = srv.stop()
    if previous is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = previous
    assert code == 0, f"server exited with {code}:\n{srv.log_text()}"
    assert "panicked" not in srv.log_text()


@pytest.fixture
def client(server):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=server.url)


def mlflow_major():
    import mlflow

    return int(mlflow.__version__.split(".")[0])
