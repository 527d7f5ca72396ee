"""Every tracking call of the official MLflow client against Trackway, on SQLite and PostgreSQL.

Runs with whichever MLflow client the virtual environment holds (the test command runs it with
3.17.2 and with 2.22.x).
"""
import math
import threading
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException


def now_ms():
    return int(time.time() * 1000)


def api(server, method, path, **kw):
    return requests.request(method, f"{server.url}/api/2.0/mlflow/{path}", timeout=30, **kw)


def test_experiment_lifecycle(client, server):
    exp_id = client.create_experiment("exp-life", tags={"team": "ml"})
    exp = client.get_experiment(exp_id)
    assert exp.name == "exp-life" and exp.tags == {"team": "ml"}
    assert exp.artifact_location == f"mlflow-artifacts:/{exp_id}"
    assert client.get_experiment_by_name("exp-life").experiment_id == exp_id
    assert client.get_experiment_by_name("no-such-experiment") is None

    client.set_experiment_tag(exp_id, "stage", "dev")
    # MlflowClient 2.x has no delete_experiment_tag; the REST call is the same for both.
    deleted = api(server, "POST", "experiments/delete-experiment-tag", json={"experiment_id": exp_id, "key": "team"})
    assert deleted.status_code == 200
    assert client.get_experiment(exp_id).tags == {"stage": "dev"}

    client.rename_experiment(exp_id, "exp-renamed")
    assert client.get_experiment(exp_id).name == "exp-renamed"
    with pytest.raises(MlflowException) as e:
        client.create_experiment("exp-renamed")
    assert e.value.error_code == "RESOURCE_ALREADY_EXISTS"

    client.delete_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "deleted"
    names = {e.name for e in client.search_experiments()}
    assert "exp-renamed" not in names
    deleted = client.search_experiments(view_type=ViewType.DELETED_ONLY)
    assert [e.name for e in deleted] == ["exp-renamed"]
    client.restore_experiment(exp_id)
    assert client.get_experiment(exp_id).lifecycle_stage == "active"


def test_experiment_search_paging_and_filters(client):
    for i in range(7):
        client.create_experiment(f"paged-{i}", tags={"parity": "even" if i % 2 == 0 else "odd"})
    page = client.search_experiments(max_results=3, order_by=["name ASC"], filter_string="name LIKE 'paged-%'")
    seen = [e.name for e in page]
    while page.token:
        page = client.search_experiments(max_results=3, order_by=["name ASC"],
                                         filter_string="name LIKE 'paged-%'", page_token=page.token)
        seen += [e.name for e in page]
    assert seen == [f"paged-{i}" for i in range(7)]
    odd = client.search_experiments(filter_string="tags.parity = 'odd'")
    assert len(odd) == 3
    assert len(client.search_experiments(filter_string="name ILIKE 'PAGED-1%'")) == 1


def test_run_logging_round_trip(client, server):
    exp_id = client.create_experiment("logging")
    run = client.create_run(exp_id, run_name="first", tags={"mlflow.user": "ci", "team": "a"})
    rid = run.info.run_id
    assert run.info.run_name == "first" and run.info.status == "RUNNING"
    assert run.info.artifact_uri == f"mlflow-artifacts:/{exp_id}/{rid}/artifacts"

    client.log_param(rid, "lr", "0.01")
    client.log_param(rid, "lr", "0.01")  # same value again is fine
    for step in range(10):
        client.log_metric(rid, "loss", 1.0 / (step + 1), timestamp=1000 + step, step=step)
    client.set_tag(rid, "stage", "train")
    client.log_batch(
        rid,
        metrics=[Metric("acc", 0.5, 2000, 0), Metric("acc", 0.9, 2001, 1)],
        params=[Param("epochs", "3"), Param("optimizer", "adam")],
        tags=[RunTag("note", "batched")],
    )
    client.set_terminated(rid, "FINISHED")

    got = client.get_run(rid)
    assert got.info.status == "FINISHED" and got.info.end_time >= got.info.start_time
    assert got.data.params == {"lr": "0.01", "epochs": "3", "optimizer": "adam"}
    assert got.data.metrics == {"loss": pytest.approx(0.1), "acc": pytest.approx(0.9)}
    assert got.data.tags["stage"] == "train" and got.data.tags["note"] == "batched"
    history = client.get_metric_history(rid, "loss")
    assert [m.step for m in history] == list(range(10))
    assert history[0].value == 1.0 and history[0].timestamp == 1000

    client.delete_tag(rid, "stage")
    assert "stage" not in client.get_run(rid).data.tags
    client.update_run(rid, name="renamed")
    renamed = client.get_run(rid)
    assert renamed.info.run_name == "renamed" and renamed.data.tags["mlflow.runName"] == "renamed"
    client.delete_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "deleted"
    with pytest.raises(MlflowException) as e:
        client.log_param(rid, "x", "1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"
    client.restore_run(rid)
    assert client.get_run(rid).info.lifecycle_stage == "active"


def test_fluent_api_nested_runs(server):
    mlflow.set_experiment("fluent")
    with mlflow.start_run(run_name="parent") as parent:
        mlflow.log_params({"a": 1, "b": "x"})
        for i in range(3):
            with mlflow.start_run(nested=True, run_name=f"child-{i}"):
                mlflow.log_metric("score", i)
                mlflow.set_tag("kind", "child")
    client = mlflow.MlflowClient()
    exp_id = parent.info.experiment_id
    children = client.search_runs([exp_id], filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    assert sorted(r.info.run_name for r in children) == ["child-0", "child-1", "child-2"]
    df = mlflow.search_runs(experiment_ids=[exp_id], order_by=["metrics.score DESC"])
    assert isinstance(df, pd.DataFrame) and len(df) == 4
    assert list(df["metrics.score"].dropna()) == [2.0, 1.0, 0.0]


def test_batch_limits_and_errors(client, server):
    rid = client.create_run("0").info.run_id
    # MLflow's maxima fit in one request.
    client.log_batch(rid, metrics=[Metric("m", float(i), now_ms(), i) for i in range(1000)])
    client.log_batch(rid, params=[Param(f"p{i}", "v" * 6000) for i in range(100)],
                     tags=[RunTag(f"t{i}", "w" * 8000) for i in range(100)])
    got = client.get_run(rid)
    assert len(got.data.params) == 100 and len(got.data.params["p7"]) == 6000
    assert len(client.get_metric_history(rid, "m")) == 1000

    def batch(**body):
        return api(server, "POST", "runs/log-batch", json={"run_id": rid, **body})

    over = batch(metrics=[{"key": "m", "value": 1, "timestamp": 1, "step": i} for i in range(1001)])
    assert over.status_code == 400 and over.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "at most 1000 metrics" in over.json()["message"]
    assert batch(params=[{"key": f"q{i}", "value": "v"} for i in range(101)]).status_code == 400
    assert batch(tags=[{"key": f"u{i}", "value": "v"} for i in range(101)]).status_code == 400
    changed = batch(params=[{"key": "p1", "value": "other"}, {"key": "new", "value": "1"}])
    assert changed.status_code == 400 and "Changing param values is not allowed" in changed.json()["message"]
    # The refused batch stored nothing.
    assert "new" not in client.get_run(rid).data.params
    long_key = batch(params=[{"key": "k" * 251, "value": "v"}])
    assert long_key.status_code == 400 and "exceeds the maximum length" in long_key.json()["message"]


def test_error_codes_and_statuses(client, server):
    with pytest.raises(MlflowException) as e:
        client.get_run("0" * 32)
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.get_experiment("123456")
    assert e.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    with pytest.raises(MlflowException) as e:
        client.search_runs(["0"], filter_string="metrics.x >>> 1")
    assert e.value.error_code == "INVALID_PARAMETER_VALUE"

    bad_json = requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", data="{not json",
                             headers={"Content-Type": "application/json"}, timeout=10)
    assert bad_json.status_code == 400 and bad_json.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    wrong_type = requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", data="name=x",
                               headers={"Content-Type": "text/plain"}, timeout=10)
    assert wrong_type.status_code == 400
    unknown = requests.get(f"{server.url}/api/2.0/mlflow/no/such/route", timeout=10)
    assert unknown.status_code == 404 and not unknown.headers["content-type"].startswith("application/json")
    deleted_exp = client.create_experiment("to-delete")
    client.delete_experiment(deleted_exp)
    rename = api(server, "POST", "experiments/update", json={"experiment_id": deleted_exp, "new_name": "z"})
    assert rename.status_code == 500 and rename.json()["error_code"] == "INVALID_STATE"
    for path in ("runs/get?run_id=" + "0" * 32, "experiments/get?experiment_id=abc"):
        body = api(server, "GET", path).json()
        assert set(body) >= {"error_code", "message"}


def test_special_values_round_trip(client):
    rid = client.create_run("0").info.run_id
    client.log_batch(rid, metrics=[Metric("nan", float("nan"), 1, 0), Metric("inf", float("inf"), 1, 0),
                                   Metric("ninf", float("-inf"), 1, 0), Metric("tiny", 5e-324, 1, 0)])
    metrics = client.get_run(rid).data.metrics
    assert math.isnan(metrics["nan"])
    assert metrics["inf"] >= 1.7e308 and metrics["ninf"] <= -1.7e308
    assert metrics["tiny"] == 5e-324
    assert math.isnan(client.get_metric_history(rid, "nan")[0].value)


def test_long_history_pages(client):
    rid = client.create_run("0").info.run_id
    n = 26000  # more than one page of the 3.x client's 25000-point pages
    for start in range(0, n, 1000):
        client.log_batch(rid, metrics=[Metric("loss", float(i), 10_000 + i, i) for i in range(start, min(n, start + 1000))])
    history = client.get_metric_history(rid, "loss")
    assert len(history) == n
    assert [m.step for m in history[:3]] == [0, 1, 2] and history[-1].step == n - 1


def test_bulk_interval_as_the_ui_asks(client, server):
    runs = []
    for _ in range(2):
        rid = client.create_run("0").info.run_id
        client.log_batch(rid, metrics=[Metric("loss", float(i), 100 + i, i) for i in range(500)])
        runs.append(rid)
    params = [("run_ids", r) for r in runs] + [("metric_key", "loss"), ("max_results", "100")]
    for prefix in ("api", "ajax-api"):
        r = requests.get(f"{server.url}/{prefix}/2.0/mlflow/metrics/get-history-bulk-interval", params=params, timeout=10)
        assert r.status_code == 200
        points = r.json()["metrics"]
        for rid in runs:
            steps = [p["step"] for p in points if p["run_id"] == rid]
            assert len(steps) == 100 and steps[0] == 0 and steps[-1] == 499
    window = requests.get(f"{server.url}/api/2.0/mlflow/metrics/get-history-bulk-interval",
                          params=[("run_ids", runs[0]), ("metric_key", "loss"), ("start_step", "10"), ("end_step", "14")], timeout=10)
    assert [p["step"] for p in window.json()["metrics"]] == [10, 11, 12, 13, 14]


def test_search_runs_grammar_and_paging(client):
    exp_id = client.create_experiment("grammar")
    ids = []
    for i in range(25):
        r = client.create_run(exp_id, run_name=f"r-{i:02d}", tags={"group": "A" if i < 10 else "B", "my tag": str(i)})
        client.log_param(r.info.run_id, "depth", str(i % 4))
        client.log_metric(r.info.run_id, "f1 score", i / 100, step=0)
        ids.append(r.info.run_id)

    def count(filter_string, **kw):
        return len(client.search_runs([exp_id], filter_string=filter_string, **kw))

    assert count("metrics.`f1 score` >= 0.2") == 5
    assert count("tags.`my tag` = '3'") == 1
    with pytest.raises(MlflowException):  # IN is for run ids only
        count("tags.group IN ('A')")
    assert count("params.depth = '0' and tags.group = 'B'") == 4
    assert count("tags.group != 'A'") == 15
    assert count("attributes.run_name LIKE 'r-1%'") == 10
    assert count("attributes.run_name ILIKE 'R-2%'") == 5
    assert count(f"attributes.run_id IN ('{ids[0]}', '{ids[1]}', '{ids[2]}')") == 3
    assert count(f"attributes.run_id NOT IN ('{ids[0]}')") == 24
    assert count("params.missing IS NULL") == 25
    assert count("attributes.status = 'RUNNING'") == 25
    collected, token = [], None
    while True:
        page = client.search_runs([exp_id], order_by=["params.depth DESC", "attributes.run_name ASC"],
                                  max_results=7, page_token=token)
        collected += [r.info.run_name for r in page]
        token = page.token
        if not token:
            break
    assert len(collected) == 25 and len(set(collected)) == 25
    assert collected[0] == "r-03"


def test_dataset_inputs(client, server):
    mlflow.set_experiment("datasets")
    df = pd.DataFrame({"x": np.arange(5), "y": np.arange(5) * 2.0})
    ds = mlflow.data.from_pandas(df, source="s3://bucket/data.csv", name="train", targets="y")
    with mlflow.start_run() as run:
        mlflow.log_input(ds, context="training")
        mlflow.log_input(ds, context="training")  # logged once
    got = client.get_run(run.info.run_id).inputs.dataset_inputs
    assert len(got) == 1
    assert got[0].dataset.name == "train" and got[0].dataset.digest == ds.digest
    assert got[0].dataset.schema and got[0].dataset.profile
    found = client.search_runs([run.info.experiment_id], filter_string="datasets.context = 'training'")
    assert [r.info.run_id for r in found] == [run.info.run_id]
    summaries = requests.post(f"{server.url}/ajax-api/2.0/mlflow/experiments/search-datasets",
                              json={"experiment_ids": [run.info.experiment_id]}, timeout=10).json()
    assert summaries["dataset_summaries"][0]["context"] == "training"


def test_sixteen_concurrent_writers(client):
    """16 clients writing at once: no 'database is locked', nothing lost."""
    run_ids = [client.create_run("0").info.run_id for _ in range(16)]
    errors = []

    def writer(rid):
        try:
            c = mlflow.MlflowClient()
            for batch in range(5):
                c.log_batch(rid, metrics=[Metric("m", float(i), batch, i) for i in range(200)],
                            tags=[RunTag("batch", str(batch))])
                c.log_param(rid, f"p{batch}", str(batch))
        except Exception as e:  # noqa: BLE001 - every failure is a test failure
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(rid,)) for rid in run_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    for rid in run_ids:
        assert len(client.get_metric_history(rid, "m")) == 1000
        assert len(client.get_run(rid).data.params) == 5


def test_both_prefixes(server):
    for prefix in ("api", "ajax-api"):
        r = requests.post(f"{server.url}/{prefix}/2.0/mlflow/experiments/search", json={"max_results": 10}, timeout=10)
        assert r.status_code == 200 and r.json()["experiments"][0]["name"] == "Default"
    assert requests.get(f"{server.url}/health", timeout=5).text == "OK"
    assert requests.get(f"{server.url}/version", timeout=5).text == "3.17.2"
