"""The model registry end to end: `trackway models resolve` against a live server on both
deployments, version numbers from two server processes on one database, and the rules that
keep a version's files inside the server's artifact roots.

The registry's wire format and errors are checked against MLflow's own answers by
test_conformance.py; the acceptance scenarios (tests/run_acceptance.py) drive it with both
clients.
"""
import json
import os
import subprocess
import threading
from pathlib import Path

import mlflow
import numpy as np
import pytest
import requests
from sklearn.linear_model import LinearRegression

from conftest import Server, s3_endpoint, trackway_bin

MLFLOW_3 = mlflow.__version__.startswith("3.")
API = "/api/2.0/mlflow"


def resolve(tracking_uri, model_uri, *extra, env=None):
    args = [trackway_bin(), "models", "resolve", model_uri, *extra]
    if tracking_uri is not None:
        args += ["--tracking-uri", tracking_uri]
    return subprocess.run(args, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def resolved(tracking_uri, model_uri):
    out = resolve(tracking_uri, model_uri, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def log_registered(name, slope):
    X = np.arange(20, dtype=float).reshape(10, 2)
    model = LinearRegression().fit(X, X @ np.array([slope, 1.0]))
    with mlflow.start_run() as run:
        if MLFLOW_3:
            mlflow.sklearn.log_model(model, name="model", registered_model_name=name)
        else:
            mlflow.sklearn.log_model(model, artifact_path="model", registered_model_name=name)
    return run.info.run_id


# moto refuses anonymous reads of private objects and does not check signatures, so any
# well-formed SigV4 header lets the test read the bucket as its owner.
S3_AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, "
                            "SignedHeaders=host, Signature=0"}


def read_stored(deployment, location, rel):
    """The bytes stored at a physical location, read from the storage itself (not the server)."""
    if deployment.bucket:
        prefix = f"s3://{deployment.bucket}/"
        assert location.startswith(prefix), location
        r = requests.get(f"{s3_endpoint()}/{deployment.bucket}/{location[len(prefix):]}/{rel}",
                         headers=S3_AUTH, timeout=10)
        return r.content if r.status_code == 200 else None
    path = Path(location) / rel
    return path.read_bytes() if path.is_file() else None


def test_resolve_prints_the_physical_location(server, tmp_path):
    client = mlflow.MlflowClient()
    mlflow.set_experiment("resolve")
    run1 = log_registered("churn", 1.0)
    log_registered("churn", 2.0)
    client.set_registered_model_alias("churn", "production", "1")
    client.transition_model_version_stage("churn", "2", "Staging")
    dep = server.deployment

    out = resolve(server.url, "models:/churn@production")
    assert out.returncode == 0, out.stderr
    location = out.stdout.strip()
    if dep.bucket:
        assert location.startswith(f"s3://{dep.bucket}/mlflow/"), location
    else:
        assert location.startswith(str(dep.artifacts_root.resolve())), location
    # The files at that location are the ones the client loads for that version.
    downloaded = Path(mlflow.artifacts.download_artifacts("models:/churn@production", dst_path=str(tmp_path / "d")))
    # (`registered_model_meta` is written by the client when it downloads a registered model.)
    files = [f for f in downloaded.rglob("*") if f.is_file() and f.name != "registered_model_meta"]
    assert "MLmodel" in [f.name for f in files]
    for f in files:
        rel = f.relative_to(downloaded).as_posix()
        assert read_stored(dep, location, rel) == f.read_bytes(), rel

    answer = resolved(server.url, "models:/churn/1")
    assert answer["name"] == "churn" and answer["version"] == "1" and answer["run_id"] == run1
    assert answer["location"] == location
    assert answer["source"] == client.get_model_version("churn", "1").source
    assert resolved(server.url, "models:/churn/staging")["version"] == "2"
    assert resolved(server.url, "models:/churn/latest")["version"] == "2"

    # Promotion is a metadata change: the same reference now names the other files.
    client.set_registered_model_alias("churn", "production", "2")
    moved = resolve(None, "models:/churn@production", env={"MLFLOW_TRACKING_URI": server.url})
    assert moved.returncode == 0, moved.stderr
    assert moved.stdout.strip() != location
    assert read_stored(dep, moved.stdout.strip(), "MLmodel") is not None

    # A `runs:/` source resolves through the run's artifact root.
    client.log_text(run1, "marker", "model/marker.txt")
    client.create_model_version("churn", f"runs:/{run1}/model", run_id=run1)
    runs_answer = resolved(server.url, "models:/churn/3")
    assert runs_answer["source"] == f"runs:/{run1}/model"
    assert runs_answer["location"].endswith(f"/{run1}/artifacts/model")
    assert read_stored(dep, runs_answer["location"], "marker.txt") == b"marker"


def test_resolve_fails_clearly(server):
    client = mlflow.MlflowClient()
    client.create_registered_model("empty")
    for uri, expected in [
        ("models:/nope/1", "RESOURCE_DOES_NOT_EXIST"),
        ("models:/nope@prod", "Registered Model with name=nope not found"),
        ("models:/empty@prod", "Registered model alias prod not found"),
        ("models:/empty/Production", "RESOURCE_DOES_NOT_EXIST"),
        ("models:/empty/latest", "RESOURCE_DOES_NOT_EXIST"),
        ("models:/empty/bogus-stage", "INVALID_PARAMETER_VALUE"),
        ("runs:/abc/model", "INVALID_PARAMETER_VALUE"),
    ]:
        out = resolve(server.url, uri)
        assert out.returncode == 1 and out.stdout == "", (uri, out.stdout)
        assert expected in out.stderr, (uri, out.stderr)
    unreachable = resolve("http://127.0.0.1:9", "models:/empty@prod")
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_two_servers_never_hand_out_a_version_twice(backend_uri, tmp_path):
    """Two server processes on one database, creating versions of one model at once."""
    artifacts = ["--artifacts-destination", str(tmp_path / "mlartifacts")]
    servers = [Server(backend_uri, tmp_path / name, artifacts) for name in ("a", "b")]
    try:
        r = requests.post(f"{servers[0].url}{API}/registered-models/create", json={"name": "race"}, timeout=10)
        assert r.status_code == 200, r.text
        versions, errors = [], []

        def create(url):
            with requests.Session() as session:
                for _ in range(10):
                    r = session.post(f"{url}{API}/model-versions/create",
                                     json={"name": "race", "source": "s3://bucket/model"}, timeout=60)
                    if r.status_code == 200:
                        versions.append(int(r.json()["model_version"]["version"]))
                    else:
                        errors.append(r.text)

        threads = [threading.Thread(target=create, args=(srv.url,)) for srv in servers for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sorted(versions) == list(range(1, 161))
        listed = requests.get(f"{servers[1].url}{API}/model-versions/search",
                              params={"filter": "name = 'race'", "max_results": 1000}, timeout=10).json()
        assert sorted(int(v["version"]) for v in listed["model_versions"]) == list(range(1, 161))
    finally:
        for srv in servers:
            assert srv.stop() == 0, srv.log_text()


def test_version_files_stay_inside_the_roots(server):
    """A version's `source` cannot make the server read files outside its artifact roots."""
    client = mlflow.MlflowClient()
    client.create_registered_model("guarded")
    exp = client.create_experiment("guarded")
    run = client.create_run(exp).info.run_id
    other = client.create_run(exp).info.run_id
    refused = [
        (f"mlflow-artifacts:/{exp}/{other}/artifacts/model", run),  # another run's files
        (f"mlflow-artifacts:/{exp}/{run}/artifacts/../../{other}/artifacts", run),
        (f"mlflow-artifacts:/{exp}/{run}/artifacts/%2e%2e/%2e%2e/{other}/artifacts", run),
        (f"mlflow-artifacts:/{exp}/{run}/artifacts/%252e%252e/x", run),
        ("/etc", run),
        ("file:///etc/passwd", run),
        ("relative/../../etc", run),
        (f"runs:/{other}/model", run),
        ("http://169.254.169.254/latest/meta-data", run),
        (f"mlflow-artifacts://evil.example/{exp}/{run}/artifacts/model", run),
    ]
    for source, run_id in refused:
        r = requests.post(f"{server.url}{API}/model-versions/create",
                          json={"name": "guarded", "source": source, "run_id": run_id}, timeout=10)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (source, r.text)
    assert "latest_versions" not in requests.get(f"{server.url}{API}/registered-models/get",
                                                 params={"name": "guarded"}, timeout=10).json()["registered_model"]

    # A source in storage the server does not serve is recorded (MLflow does too), but the
    # server never reads it for a client.
    client.create_model_version("guarded", "s3://somebody-elses-bucket/model")
    r = requests.get(f"{server.url}/model-versions/get-artifact",
                     params={"name": "guarded", "version": "1", "path": "MLmodel"}, timeout=10)
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", r.text
    for path in ("../x", "/etc/passwd", "a/../../b", "%2e%2e/x"):
        r = requests.get(f"{server.url}/model-versions/get-artifact",
                         params={"name": "guarded", "version": "1", "path": path}, timeout=10)
        assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE", (path, r.text)
