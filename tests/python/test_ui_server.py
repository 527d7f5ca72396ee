"""How Trackway finds and serves the web UI, and `trackway ui install` (no browser needed).

The installed UI comes from TRACKWAY_DATA_DIR, which the README's test command fills with
`trackway ui install` from PyPI before the tests run.
"""
import gzip
import hashlib
import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests

from conftest import Server, trackway_bin

UI = "ui/mlflow-3.17.2"


def installed_data_dir():
    data = os.environ.get("TRACKWAY_DATA_DIR")
    if not data or not (Path(data) / UI / "index.html").is_file():
        pytest.exit("TRACKWAY_DATA_DIR holds no installed UI: run `trackway ui install` "
                    "(the README's test command does)", returncode=2)
    return Path(data)


def no_python_path(tmp_path):
    """A PATH whose python3 finds no mlflow package, so only the data directory counts."""
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python3"
    fake.write_text("#!/bin/sh\nexit 1\n")
    fake.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def main_bundle(index_html):
    start = index_html.index("static-files/static/js/main.")
    return index_html[start:index_html.index('"', start)]


def test_installed_ui_is_served_with_caching_headers(tmp_path):
    data = installed_data_dir()
    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path,
                    env={"TRACKWAY_DATA_DIR": str(data), "PATH": no_python_path(tmp_path)})
    try:
        index = requests.get(server.url + "/")
        assert index.status_code == 200
        assert index.headers["content-type"].startswith("text/html")
        assert index.headers["cache-control"] == "no-cache"
        assert index.text == (data / UI / "index.html").read_text()

        bundle = main_bundle(index.text)
        raw = (data / UI / bundle.removeprefix("static-files/")).read_bytes()
        plain = requests.get(f"{server.url}/{bundle}", headers={"Accept-Encoding": "identity"})
        assert plain.status_code == 200 and plain.content == raw
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "javascript" in plain.headers["content-type"]
        # Browsers that take gzip get the copy compressed at install time.
        zipped = requests.get(f"{server.url}/{bundle}", headers={"Accept-Encoding": "gzip"},
                              stream=True)
        assert zipped.headers["content-encoding"] == "gzip"
        body = zipped.raw.read()
        assert len(body) < len(raw) / 2 and gzip.decompress(body) == raw
        etag = zipped.headers["etag"]
        again = requests.get(f"{server.url}/{bundle}", headers={"If-None-Match": etag,
                                                                  "Accept-Encoding": "gzip"})
        assert again.status_code == 304

        icon = requests.get(server.url + "/static-files/favicon.ico")
        assert icon.status_code == 200 and icon.headers["cache-control"] == "public, max-age=2419200"
        assert requests.get(server.url + "/static-files/static/js/nope.js").status_code == 404
        # Paths never leave the UI directory.
        for sneaky in ("/static-files/../../../etc/passwd", "/static-files/%2e%2e/%2e%2e/etc/passwd",
                       "/static-files/..%2f..%2f..%2fetc%2fpasswd"):
            response = requests.get(server.url + sneaky)
            assert response.status_code in (400, 404) and "root:" not in response.text
        # The API beside the UI is unchanged.
        assert requests.get(server.url + "/api/2.0/mlflow/experiments/get",
                            params={"experiment_id": "0"}).status_code == 200
    finally:
        assert server.stop() == 0


def test_ui_under_a_static_prefix(tmp_path):
    """The app's URLs are relative: it is served at PREFIX/, and PREFIX redirects there."""
    data = installed_data_dir()
    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path,
                    extra_args=["--static-prefix", "/mlflow"], prefix="/mlflow",
                    env={"TRACKWAY_DATA_DIR": str(data), "PATH": no_python_path(tmp_path)})
    try:
        bare = requests.get(server.url + "/mlflow", allow_redirects=False)
        assert bare.status_code == 308 and bare.headers["location"] == "/mlflow/"
        index = requests.get(server.url + "/mlflow/")
        assert index.status_code == 200 and "static-files/static/js/main." in index.text
        bundle = main_bundle(index.text)
        assert requests.get(f"{server.url}/mlflow/{bundle}").status_code == 200
        assert requests.get(f"{server.url}/{bundle}").status_code == 404
        assert requests.post(server.url + "/mlflow/graphql", json={
            "query": 'query { test(inputString: "x") { output } }'}).json() == {
            "data": {"test": {"output": "x"}}, "errors": None}
    finally:
        assert server.stop() == 0


def test_without_a_ui_the_root_says_how_to_install_it(tmp_path):
    empty = tmp_path / "data"
    empty.mkdir()
    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path,
                    env={"TRACKWAY_DATA_DIR": str(empty), "PATH": no_python_path(tmp_path)})
    try:
        root = requests.get(server.url + "/")
        assert root.status_code == 200 and "trackway ui install" in root.text
        assert requests.get(server.url + "/static-files/favicon.ico").status_code == 404
        assert requests.get(server.url + "/api/2.0/mlflow/experiments/search",
                            params={"max_results": 1}).status_code == 200
    finally:
        assert server.stop() == 0
    assert "no web UI installed" in server.log_text()


def test_ui_dir_flag(tmp_path):
    data = installed_data_dir()
    bad = subprocess.run(
        [trackway_bin(), "server", "--port", "0", "--ui-dir", str(tmp_path / "missing"),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"],
        capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert bad.returncode != 0 and "holds no index.html" in bad.stderr

    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path,
                    extra_args=["--ui-dir", str(data / UI)],
                    env={"TRACKWAY_DATA_DIR": str(tmp_path / "elsewhere"),
                         "PATH": no_python_path(tmp_path)})
    try:
        assert requests.get(server.url + "/").text == (data / UI / "index.html").read_text()
    finally:
        assert server.stop() == 0


def test_ui_of_the_active_python_mlflow_package(tmp_path):
    """With nothing installed, the UI inside the mlflow package of `python3` is served."""
    import mlflow

    package_ui = Path(mlflow.__file__).parent / "server" / "js" / "build"
    venv_bin = Path(sys.executable).parent
    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path,
                    env={"TRACKWAY_DATA_DIR": str(tmp_path / "empty"),
                         "PATH": f"{venv_bin}:/usr/bin:/bin"})
    try:
        assert requests.get(server.url + "/").text == (package_ui / "index.html").read_text()
    finally:
        assert server.stop() == 0
    log = server.log_text()
    assert f"web UI from {package_ui}" in log
    # Another MLflow release's UI is served, with a warning that pages may differ.
    assert ("is not MLflow 3.17.2" in log) == (mlflow.__version__ != "3.17.2")


def test_installed_files_are_the_wheels_own():
    """`trackway ui install` extracted MLflow 3.17.2's build unchanged (compared with the pip
    installation of the same release)."""
    import mlflow

    if mlflow.__version__ != "3.17.2":
        pytest.skip("compares with the files of the mlflow 3.17.2 package")
    data = installed_data_dir()
    package_ui = Path(mlflow.__file__).parent / "server" / "js" / "build"
    expected = sorted(p.relative_to(package_ui) for p in package_ui.rglob("*") if p.is_file())
    installed = sorted(p.relative_to(data / UI) for p in (data / UI).rglob("*")
                       if p.is_file() and p.suffix != ".gz")
    assert installed == expected and len(expected) > 100
    for relative in expected:
        assert (data / UI / relative).read_bytes() == (package_ui / relative).read_bytes(), relative
        gz = data / UI / f"{relative}.gz"
        if gz.exists():
            assert gzip.decompress(gz.read_bytes()) == (package_ui / relative).read_bytes()


class _Index(http.server.BaseHTTPRequestHandler):
    """A package index holding a wheel with the right name and the wrong content."""

    wheel = b"PK\x05\x06" + b"\0" * 18  # an empty zip archive
    json_api = False

    def do_GET(self):  # noqa: N802 - the http.server interface
        name = "mlflow-3.17.2-py3-none-any.whl"
        if self.path.rstrip("/").endswith("/simple/mlflow"):
            digest = hashlib.sha256(self.wheel).hexdigest()
            if self.json_api and "json" in self.headers.get("Accept", ""):
                body = json.dumps({"files": [{"filename": name, "url": f"../../files/{name}",
                                              "hashes": {"sha256": digest}}]}).encode()
                kind = "application/vnd.pypi.simple.v1+json"
            else:
                body = (f'<html><body><a href="/files/{name}#sha256={digest}">{name}</a><br/>'
                        "</body></html>").encode()
                kind = "text/html"
        elif self.path == f"/files/{name}":
            body, kind = self.wheel, "application/octet-stream"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("json_api", [False, True], ids=["pep503-html", "pep691-json"])
def test_install_refuses_a_wheel_that_is_not_the_pinned_one(tmp_path, json_api):
    handler = type("Index", (_Index,), {"json_api": json_api})
    index = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=index.serve_forever, daemon=True).start()
    try:
        result = subprocess.run(
            [trackway_bin(), "ui", "install", "--data-dir", str(tmp_path / "data"),
             "--index-url", f"http://127.0.0.1:{index.server_port}/simple"],
            capture_output=True, text=True, timeout=60)
    finally:
        index.shutdown()
    assert result.returncode != 0
    assert "refusing to install" in result.stderr and "expected 4e44c037" in result.stderr
    assert not (tmp_path / "data" / UI).exists()
    # Nothing half-written is left behind.
    assert [p.name for p in (tmp_path / "data").iterdir()] == []


def test_install_reports_an_index_without_the_wheel(tmp_path):
    result = subprocess.run(
        [trackway_bin(), "ui", "install", "--data-dir", str(tmp_path / "data"),
         "--index-url", "http://127.0.0.1:9/simple"],
        capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "cannot reach the package index" in result.stderr


def test_ui_only_endpoints_answer_as_mlflow_does(tmp_path):
    server = Server(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)
    try:
        url = server.url
        assert requests.get(url + "/ajax-api/3.0/mlflow/ui-telemetry").json() == {
            "disable_ui_telemetry": True, "disable_ui_events": [], "ui_rollout_percentage": 0}
        assert requests.post(url + "/ajax-api/3.0/mlflow/ui-telemetry",
                             json={"records": [{"event_name": "x"}]}).json() == {"status": "disabled"}
        assert requests.get(url + "/ajax-api/2.0/mlflow/gateway-proxy",
                            params={"gateway_path": "api/2.0/endpoints/"}).json() == {"endpoints": []}
        metrics = requests.post(url + "/ajax-api/3.0/mlflow/traces/metrics", json={
            "experiment_ids": ["0"], "view_type": "TRACES", "metric_name": "trace_count",
            "aggregations": [{"aggregation_type": "COUNT"}]})
        assert metrics.status_code == 200 and metrics.json() == {}
        missing = requests.post(url + "/ajax-api/3.0/mlflow/traces/metrics",
                                json={"metric_name": "trace_count"})
        assert missing.status_code == 400
        assert missing.json()["error_code"] == "INVALID_PARAMETER_VALUE"
        assert requests.get(url + "/ajax-api/2.0/mlflow/users/current").status_code == 404
        # The GenAI pages' lists: MLflow's answer for a store that holds none.
        trace_search = {"locations": [{"type": "MLFLOW_EXPERIMENT",
                                       "mlflow_experiment": {"experiment_id": "0"}}]}
        assert requests.post(url + "/ajax-api/3.0/mlflow/traces/search",
                             json=trace_search).json() == {}
        assert requests.post(url + "/ajax-api/3.0/mlflow/datasets/search",
                             json={"experiment_ids": ["0"]}).json() == {}
        assert requests.get(url + "/ajax-api/3.0/mlflow/scorers/list",
                            params={"experiment_id": "0"}).json() == {}
        # A database that holds such records (written by MLflow) is not answered as if empty.
        with sqlite3.connect(tmp_path / "mlflow.db") as db:
            db.execute("INSERT INTO trace_info (request_id, experiment_id, timestamp_ms, status) "
                       "VALUES ('tr-1', 0, 1, 'OK')")
            db.execute("INSERT INTO scorers (experiment_id, scorer_name, scorer_id) "
                       "VALUES (0, 'judge', 's-1')")
        for refused in [
            requests.post(url + "/ajax-api/3.0/mlflow/traces/metrics", json={
                "experiment_ids": ["0"], "view_type": "TRACES", "metric_name": "trace_count",
                "aggregations": [{"aggregation_type": "COUNT"}]}),
            requests.post(url + "/ajax-api/3.0/mlflow/traces/search", json=trace_search),
            requests.post(url + "/ajax-api/3.0/mlflow/traces/search", json={"locations": []}),
            requests.get(url + "/ajax-api/3.0/mlflow/scorers/list", params={"experiment_id": "0"}),
        ]:
            assert refused.status_code == 501, refused.text
            assert refused.json()["error_code"] == "NOT_IMPLEMENTED"
    finally:
        assert server.stop() == 0
