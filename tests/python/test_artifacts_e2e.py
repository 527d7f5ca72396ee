"""Artifacts through Trackway with the real MLflow client: SQLite with local artifacts and
PostgreSQL with S3 artifacts; path safety; the server's artifact roots; garbage collection."""
import hashlib
import json
import os
import subprocess
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.exceptions import MlflowException

from conftest import Server, mlflow_major, new_bucket, trackway_bin

MA = "/api/2.0/mlflow-artifacts/artifacts"


def test_artifacts_round_trip(client, server, tmp_path):
    mlflow.set_experiment("artifacts")
    src = tmp_path / "src"
    (src / "sub" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"alpha\n",
        "sub/b.bin": bytes(range(256)) * 100,
        "sub/deeper/c.json": json.dumps({"k": [1, 2, 3]}).encode(),
        "sub/empty.txt": b"",
    }
    for rel, data in files.items():
        (src / rel).write_bytes(data)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(src), artifact_path="bundle")
        mlflow.log_artifact(str(src / "a.txt"))
        mlflow.log_text("hello ✓", "notes/readme.md")
        mlflow.log_dict({"x": 1}, "meta/d.json")
    rid = run.info.run_id

    top = {(a.path, a.is_dir) for a in client.list_artifacts(rid)}
    assert top == {("a.txt", False), ("bundle", True), ("notes", True), ("meta", True)}
    sub = client.list_artifacts(rid, "bundle/sub")
    assert [(a.path, a.is_dir, a.file_size) for a in sub] == [
        ("bundle/sub/b.bin", False, 25600), ("bundle/sub/deeper", True, None), ("bundle/sub/empty.txt", False, None)]
    out = Path(mlflow.artifacts.download_artifacts(run_id=rid, artifact_path="bundle", dst_path=str(tmp_path / "dl")))
    for rel, data in files.items():
        assert (out / rel).read_bytes() == data, rel
    assert mlflow.artifacts.load_text(f"runs:/{rid}/notes/readme.md") == "hello ✓"
    assert mlflow.artifacts.load_dict(f"runs:/{rid}/meta/d.json") == {"x": 1}

    # The UI's download link and upload route.
    got = requests.get(f"{server.url}/get-artifact", params={"run_uuid": rid, "path": "bundle/sub/b.bin"}, timeout=30)
    assert got.status_code == 200 and got.content == files["sub/b.bin"]
    assert got.headers["content-disposition"] == "attachment; filename=b.bin"
    up = requests.post(f"{server.url}/ajax-api/2.0/mlflow/upload-artifact", params={"run_uuid": rid, "path": "ui/x.txt"},
                       data=b"from the ui", timeout=30)
    assert up.status_code == 200
    assert mlflow.artifacts.load_text(f"runs:/{rid}/ui/x.txt") == "from the ui"


def test_layout_on_the_destination_matches_mlflow(server):
    """Proxied files land at <destination>/<experiment>/<run>/artifacts/..., like MLflow's."""
    exp = mlflow.set_experiment("layout")
    with mlflow.start_run() as run:
        mlflow.log_text("x", "dir/file.txt")
    rel = f"{exp.experiment_id}/{run.info.run_id}/artifacts/dir/file.txt"
    dep = server.deployment
    if dep.artifacts_root is not None:
        assert (dep.artifacts_root / rel).read_text() == "x"
    else:
        key = f"mlflow/{rel}"
        listing = requests.get(f"{os.environ['TRACKWAY_TEST_S3_ENDPOINT']}/{dep.bucket}",
                               params={"list-type": "2", "prefix": key}, timeout=10)
        assert f"<Key>{key}</Key>" in listing.text and "<Size>1</Size>" in listing.text, listing.text


def test_models_log_and_load(server):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(X, y)
    mlflow.set_experiment("models")
    with mlflow.start_run() as run:
        mlflow.log_metric("acc", 0.9)
        if mlflow_major() >= 3:
            info = mlflow.sklearn.log_model(model, name="clf")
        else:
            info = mlflow.sklearn.log_model(model, artifact_path="clf")
    loaded = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/clf")
    assert (loaded.predict(X[:5]) == model.predict(X[:5])).all()
    client = mlflow.MlflowClient()
    if mlflow_major() >= 3:
        logged = client.get_logged_model(info.model_id)
        assert logged.status == "READY" or str(logged.status).endswith("READY")
        assert logged.metrics and logged.metrics[0].key == "acc"
        by_id = mlflow.pyfunc.load_model(f"models:/{info.model_id}")
        assert (by_id.predict(X[:3]) == model.predict(X[:3])).all()
        found = client.search_logged_models(experiment_ids=[run.info.experiment_id], filter_string="name = 'clf'")
        assert [m.model_id for m in found] == [info.model_id]
    else:
        history = json.loads(client.get_run(run.info.run_id).data.tags["mlflow.log-model.history"])
        assert history[0]["artifact_path"] == "clf" and "sklearn" in history[0]["flavors"]


def raw(method, url, **kw):
    """Sends a request with the URL exactly as given (no re-encoding by requests)."""
    session = requests.Session()
    req = requests.Request(method, url, **kw).prepare()
    req.url = url
    return session.send(req, timeout=30)


TRAVERSALS = [
    "../escape.txt", "a/../../escape.txt", "%2e%2e/escape.txt", "%2E%2E%2Fescape.txt",
    "a/%252e%252e/%252e%252e/escape.txt", "%25252e%25252e/escape.txt", "a%5C..%5C..%5Cescape.txt",
    "a%00b.txt", "a/./b.txt", "file:%2F%2F%2Fetc%2Fescape.txt", "%2Fetc%2Fescape.txt", "C:%5Cescape.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_refused_everywhere(server, path):
    for method, url, kw in [
        ("PUT", f"{server.url}{MA}/{path}", {"data": b"x"}),
        ("GET", f"{server.url}{MA}/{path}", {}),
        ("DELETE", f"{server.url}{MA}/{path}", {}),
        ("GET", f"{server.url}{MA}?path={path}", {}),
    ]:
        r = raw(method, url, **kw)
        assert r.status_code == 400, (method, url, r.status_code, r.text)
        assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (method, url, r.text)
    run = requests.post(f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": "0"}, timeout=10).json()
    rid = run["run"]["info"]["run_id"]
    for url in (f"{server.url}/api/2.0/mlflow/artifacts/list?run_id={rid}&path={path}",
                f"{server.url}/get-artifact?run_uuid={rid}&path={path}"):
        r = raw("GET", url)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (url, r.text)
    dep = server.deployment
    if dep.artifacts_root is not None:
        for escaped in (dep.artifacts_root.parent / "escape.txt", Path("/etc/escape.txt")):
            assert not escaped.exists()


def test_symlink_out_of_the_root_is_refused(server, tmp_path):
    dep = server.deployment
    if dep.artifacts_root is None:
        pytest.skip("symlinks exist only on a local destination")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.txt").write_text("top secret")
    dep.artifacts_root.mkdir(parents=True, exist_ok=True)
    (dep.artifacts_root / "link").symlink_to(secret)
    for method, url in (("GET", f"{server.url}{MA}/link/key.txt"), ("GET", f"{server.url}{MA}?path=link"),
                        ("PUT", f"{server.url}{MA}/link/planted.txt")):
        r = requests.request(method, url, data=b"x" if method == "PUT" else None, timeout=10)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (method, url, r.text)
    assert not (secret / "planted.txt").exists()
    listing = requests.get(f"{server.url}{MA}", timeout=10).json()
    assert "link" not in [f["path"] for f in listing.get("files", [])]


@pytest.mark.parametrize("location", ["/etc", "file:///etc", "mlflow-artifacts:/../../../etc", "s3://another-bucket/x",
                                      "relative/../../etc"])
def test_locations_outside_the_roots_are_never_read(server, location):
    """An experiment whose artifact location points elsewhere (MLflow's CVE-2023-1177 family)."""
    exp = requests.post(f"{server.url}/api/2.0/mlflow/experiments/create",
                        json={"name": f"evil-{hashlib.md5(location.encode()).hexdigest()}", "artifact_location": location},
                        timeout=10)
    assert exp.status_code == 200, exp.text
    run = requests.post(f"{server.url}/api/2.0/mlflow/runs/create", json={"experiment_id": exp.json()["experiment_id"]},
                        timeout=10).json()["run"]["info"]
    for url, params in (
        (f"{server.url}/api/2.0/mlflow/artifacts/list", {"run_id": run["run_id"]}),
        (f"{server.url}/get-artifact", {"run_uuid": run["run_id"], "path": "passwd"}),
    ):
        r = requests.get(url, params=params, timeout=10)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (location, url, r.text)
    up = requests.post(f"{server.url}/ajax-api/2.0/mlflow/upload-artifact", params={"run_uuid": run["run_id"], "path": "x.txt"},
                       data=b"x", timeout=10)
    assert up.status_code == 400


def test_no_serve_artifacts_with_a_direct_root(tmp_path):
    root = tmp_path / "direct-root"
    srv = Server(f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "srv",
                 ["--no-serve-artifacts", "--default-artifact-root", str(root)])
    try:
        client = mlflow.MlflowClient(tracking_uri=srv.url)
        exp = client.create_experiment("direct")
        assert client.get_experiment(exp).artifact_location == f"{root.resolve()}/{exp}"
        run = client.create_run(exp)
        # The client writes straight to the shared directory...
        client.log_text(run.info.run_id, "direct", "d/x.txt")
        assert (root / exp / run.info.run_id / "artifacts" / "d" / "x.txt").read_text() == "direct"
        # ...and the server lists and serves it.
        assert [a.path for a in client.list_artifacts(run.info.run_id, "d")] == ["d/x.txt"]
        got = requests.get(f"{srv.url}/get-artifact", params={"run_uuid": run.info.run_id, "path": "d/x.txt"}, timeout=10)
        assert got.text == "direct"
        # The proxy is off, as in MLflow.
        assert requests.get(f"{srv.url}{MA}", timeout=10).status_code == 503
    finally:
        srv.stop()


def test_deleted_runs_keep_artifacts_until_gc(server, tmp_path):
    client = mlflow.MlflowClient()
    keep = client.create_run("0").info.run_id
    gone = client.create_run("0").info.run_id
    for rid in (keep, gone):
        client.log_text(rid, "payload", "f.txt")
        client.log_metric(rid, "m", 1.0)
    client.delete_run(gone)
    assert mlflow.artifacts.load_text(f"runs:/{gone}/f.txt") == "payload", "deleting a run keeps its artifacts"

    dep = server.deployment
    gc = [trackway_bin(), "gc", "--backend-store-uri", dep.backend_uri, *dep.artifact_args]
    young = subprocess.run([*gc, "--older-than", "1d"], capture_output=True, text=True, timeout=60, env=os.environ)
    assert young.returncode == 0, young.stderr
    assert client.get_run(gone).info.lifecycle_stage == "deleted"
    done = subprocess.run([*gc, "--older-than", "0s"], capture_output=True, text=True, timeout=60, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert f"Run with ID {gone} has been permanently deleted." in done.stdout
    with pytest.raises(MlflowException) as e:
        client.get_run(gone)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert requests.get(f"{server.url}{MA}", params={"path": f"0/{gone}/artifacts"}, timeout=10).json() == {}
    assert mlflow.artifacts.load_text(f"runs:/{keep}/f.txt") == "payload"
    refused = subprocess.run([*gc, "--run-ids", keep], capture_output=True, text=True, timeout=60, env=os.environ)
    assert refused.returncode != 0 and "not in the deleted lifecycle stage" in refused.stderr


def rss_kib(pid):
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])


def test_large_files_stream_in_bounded_memory(server):
    """A large upload and download through the server never holds the file in memory: 2 GiB on
    a local destination; 512 MiB on S3, whose test server (moto) keeps objects in its own memory
    and is slow (TRACKWAY_TEST_LARGE_FILE_MIB overrides both)."""
    default_mib = "2048" if server.deployment.artifacts_root is not None else "512"
    size = int(os.environ.get("TRACKWAY_TEST_LARGE_FILE_MIB", default_mib)) << 20
    chunk = os.urandom(1 << 20)
    peak = [rss_kib(server.proc.pid)]

    def body():
        sent = 0
        while sent < size:
            yield chunk
            sent += len(chunk)
            if sent % (64 << 20) == 0:
                peak.append(rss_kib(server.proc.pid))

    url = f"{server.url}{MA}/big/blob.bin"
    assert requests.put(url, data=body(), timeout=600).status_code == 200
    digest, received = hashlib.sha256(), 0
    with requests.get(url, stream=True, timeout=600) as r:
        assert r.status_code == 200 and int(r.headers["content-length"]) == size
        for part in r.iter_content(1 << 20):
            digest.update(part)
            received += len(part)
            if received % (64 << 20) == 0:
                peak.append(rss_kib(server.proc.pid))
    expected = hashlib.sha256()
    for _ in range(size // len(chunk)):
        expected.update(chunk)
    assert received == size and digest.hexdigest() == expected.hexdigest()
    print(f"\n{server.deployment.kind}: {size >> 20} MiB through the server, peak RSS {max(peak) // 1024} MiB")
    assert max(peak) < 100 * 1024, f"server resident memory reached {max(peak) // 1024} MiB"
