"""The `trackway` process itself: command line, defaults, shutdown, several replicas, schema
checks."""
import os
import signal
import sqlite3
import subprocess
import threading
import time

import pytest
import requests

from conftest import Server, free_port, new_pg_database, pg_admin_url, trackway_bin, wait_healthy

SERVER_FLAGS = [
    "--backend-store-uri", "--registry-store-uri", "--default-artifact-root",
    "--artifacts-destination", "--serve-artifacts", "--no-serve-artifacts", "--artifacts-only",
    "--host", "--port", "--workers", "--static-prefix", "--gunicorn-opts", "--uvicorn-opts",
    "--allowed-hosts", "--cors-allowed-origins", "--app-name", "--expose-prometheus",
]


def run_cli(*args, **kw):
    return subprocess.run([trackway_bin(), *args], capture_output=True, text=True, timeout=60, **kw)


def test_help_reads_like_a_man_page():
    top = run_cli("--help")
    assert top.returncode == 0 and "server" in top.stdout and "MLflow" in top.stdout
    server = run_cli("server", "--help")
    assert server.returncode == 0
    for flag in SERVER_FLAGS:
        assert flag in server.stdout, flag
    for env in ("MLFLOW_BACKEND_STORE_URI", "MLFLOW_DEFAULT_ARTIFACT_ROOT", "MLFLOW_PORT", "MLFLOW_HOST"):
        assert env in server.stdout, env
    assert run_cli("--version").stdout.startswith("trackway ")


def test_no_flags_serves_mlflow_db_in_the_working_directory(tmp_path):
    port = free_port()
    proc = subprocess.Popen([trackway_bin(), "server"], cwd=tmp_path, env={**os.environ, "MLFLOW_PORT": str(port)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        r = requests.post(f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/create", json={"name": "e"}, timeout=5)
        assert r.status_code == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert (tmp_path / "mlflow.db").exists()
    # One line per request: method, path, status, time.
    assert "POST /api/2.0/mlflow/experiments/create 200" in out


def test_sigterm_finishes_requests_and_loses_nothing(tmp_path):
    db = tmp_path / "mlflow.db"
    srv = Server(f"sqlite:///{db}", tmp_path)
    run_id = requests.post(f"{srv.url}/api/2.0/mlflow/runs/create",
                           json={"experiment_id": "0"}, timeout=5).json()["run"]["info"]["run_id"]
    acknowledged, lock, stop = [], threading.Lock(), threading.Event()

    def writer(worker):
        session = requests.Session()
        batch = 0
        while not stop.is_set():
            metrics = [{"key": f"w{worker}", "value": i, "timestamp": batch, "step": batch * 100 + i} for i in range(100)]
            try:
                r = session.post(f"{srv.url}/api/2.0/mlflow/runs/log-batch",
                                 json={"run_id": run_id, "metrics": metrics}, timeout=10)
            except requests.RequestException:
                return
            if r.status_code == 200:
                with lock:
                    acknowledged.append((worker, batch))
            batch += 1

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    code = srv.stop(signal.SIGTERM)
    stop.set()
    for t in threads:
        t.join()
    assert code == 0, srv.log_text()
    assert len(acknowledged) > 10

    again = Server(f"sqlite:///{db}", tmp_path / "again")
    try:
        for worker in range(8):
            stored = requests.get(f"{again.url}/api/2.0/mlflow/metrics/get-history",
                                  params={"run_id": run_id, "metric_key": f"w{worker}"}, timeout=30).json()
            steps = {m["step"] for m in stored.get("metrics", [])}
            for w, batch in acknowledged:
                if w == worker:
                    assert all(batch * 100 + i in steps for i in range(100)), (worker, batch)
    finally:
        again.stop()


@pytest.mark.skipif(pg_admin_url() is None, reason="PostgreSQL deliberately disabled")
def test_two_servers_on_one_postgres_database_are_one_service(tmp_path):
    uri, drop = new_pg_database()
    servers = []
    try:
        # Started together: schema creation must happen exactly once.
        starters = [threading.Thread(target=lambda i=i: servers.append(Server(uri, tmp_path / f"s{i}"))) for i in range(2)]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        assert len(servers) == 2
        a, b = servers
        run = requests.post(f"{a.url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}, timeout=5).json()
        rid = run["run"]["info"]["run_id"]
        assert requests.post(f"{b.url}/api/2.0/mlflow/runs/log-metric",
                             json={"run_id": rid, "key": "m", "value": 1.5, "timestamp": 1}, timeout=5).status_code == 200
        assert requests.post(f"{b.url}/api/2.0/mlflow/runs/log-parameter",
                             json={"run_id": rid, "key": "p", "value": "1"}, timeout=5).status_code == 200
        got = requests.get(f"{a.url}/api/2.0/mlflow/runs/get", params={"run_id": rid}, timeout=5).json()["run"]["data"]
        assert got["metrics"][0]["value"] == 1.5 and got["params"] == [{"key": "p", "value": "1"}]
        # A param changed through the other replica is refused there too.
        clash = requests.post(f"{a.url}/api/2.0/mlflow/runs/log-parameter",
                              json={"run_id": rid, "key": "p", "value": "2"}, timeout=5)
        assert clash.status_code == 400
        # The same experiment name created through both at once: exactly one wins.
        results = []

        def create(url):
            results.append(requests.post(f"{url}/api/2.0/mlflow/experiments/create", json={"name": "race"}, timeout=10).status_code)

        racers = [threading.Thread(target=create, args=(s.url,)) for s in (a, b, a, b)]
        for t in racers:
            t.start()
        for t in racers:
            t.join()
        assert sorted(results) == [200, 400, 400, 400]
        # A page token from one replica works on the other.
        for i in range(3):
            requests.post(f"{a.url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}, timeout=5)
        page1 = requests.post(f"{a.url}/api/2.0/mlflow/runs/search", json={"experiment_ids": ["0"], "max_results": 2}, timeout=5).json()
        page2 = requests.post(f"{b.url}/api/2.0/mlflow/runs/search",
                              json={"experiment_ids": ["0"], "max_results": 2, "page_token": page1["next_page_token"]}, timeout=5).json()
        ids = [r["info"]["run_id"] for r in page1["runs"] + page2["runs"]]
        assert len(ids) == 4 and len(set(ids)) == 4
    finally:
        for s in servers:
            s.stop()
        drop()


def test_refuses_other_schema_revisions(tmp_path):
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.execute("INSERT INTO alembic_version VALUES ('0584bdc529eb')")
        conn.execute("CREATE TABLE experiments (experiment_id INTEGER)")
    result = run_cli("server", "--backend-store-uri", f"sqlite:///{db}", "--port", str(free_port()))
    assert result.returncode != 0
    assert "0584bdc529eb" in result.stderr and "mlflow db upgrade" in result.stderr

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER)")
    result = run_cli("server", "--backend-store-uri", f"sqlite:///{other}", "--port", str(free_port()))
    assert result.returncode != 0 and "customers" in result.stderr
    with sqlite3.connect(other) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]


def test_unsupported_uri_and_flags_fail_clearly(tmp_path):
    result = run_cli("server", "--backend-store-uri", "mysql://u@h/db", "--port", str(free_port()))
    assert result.returncode != 0 and "unsupported backend store URI" in result.stderr
    result = run_cli("server", "--app-name", "basic-auth", "--port", str(free_port()), cwd=tmp_path)
    assert result.returncode != 0 and "basic-auth" in result.stderr


def test_static_prefix(tmp_path):
    srv = Server(f"sqlite:///{tmp_path / 'p.db'}", tmp_path, ["--static-prefix", "/mlflow"], prefix="/mlflow")
    try:
        assert requests.get(f"{srv.url}/mlflow/health", timeout=5).text == "OK"
        r = requests.post(f"{srv.url}/mlflow/api/2.0/mlflow/experiments/search", json={"max_results": 5}, timeout=5)
        assert r.status_code == 200
        assert requests.get(f"{srv.url}/api/2.0/mlflow/experiments/search", timeout=5).status_code == 404
    finally:
        srv.stop()
