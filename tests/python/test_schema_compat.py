"""Databases move freely between MLflow 3.17.2's own server and Trackway, in both directions,
on SQLite and PostgreSQL.

These tests start the real `mlflow server` (3.17.2) from the test environment, so they run with
the 3.x client only: MLflow 2.22 cannot open a 3.17 schema, whichever server wrote it.
"""
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
import requests
from mlflow.entities import Metric, Param, RunTag

from conftest import Server, free_port, mlflow_major, new_pg_database

pytestmark = pytest.mark.skipif(mlflow_major() < 3, reason="MLflow 2.x cannot open MLflow 3.17.2's schema")


class MlflowServer:
    """MLflow 3.17.2's own tracking server, as a user starts it."""

    def __init__(self, backend_uri, workdir):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = open(workdir / "mlflow-server.log", "w")
        exe = Path(sys.executable).parent / "mlflow"
        self.proc = subprocess.Popen(
            [str(exe), "server", "--backend-store-uri", backend_uri, "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1"],
            cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.time() + 180
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {(workdir / 'mlflow-server.log').read_text()[-3000:]}")
            try:
                if requests.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError("mlflow server did not become healthy")

    def stop(self):
        # MLflow's server spawns uvicorn and job workers: stop the whole process group.
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def write_sample(url, tag):
    """Logs a representative run through the MLflow client; returns (experiment id, run id)."""
    client = mlflow.MlflowClient(tracking_uri=url)
    exp_id = client.create_experiment(f"compat-{tag}", tags={"origin": tag})
    run = client.create_run(exp_id, run_name=f"run-{tag}", tags={"team": "compat"})
    rid = run.info.run_id
    client.log_batch(rid, metrics=[Metric("loss", 1.0 / (i + 1), 1000 + i, i) for i in range(50)]
                     + [Metric("nan", float("nan"), 1, 0), Metric("inf", float("inf"), 1, 0)],
                     params=[Param("lr", "0.1"), Param("layers", "3")], tags=[RunTag("stage", tag)])
    mlflow.set_tracking_uri(url)
    import pandas as pd

    ds = mlflow.data.from_pandas(pd.DataFrame({"a": [1, 2, 3]}), source="s3://b/d.csv", name=f"ds-{tag}")
    with mlflow.start_run(run_id=rid):
        mlflow.log_input(ds, context="training")
    client.set_terminated(rid, "FINISHED", end_time=5000)

    model = f"compat-model-{tag}"
    client.create_registered_model(model, tags={"origin": tag}, description=f"from {tag}")
    for _ in range(3):
        client.create_model_version(model, f"s3://bucket/{tag}/model", run_id=rid, tags={"k": "v"})
    client.set_registered_model_alias(model, "champion", "2")
    client.transition_model_version_stage(model, "1", "Production")
    client.delete_model_version(model, "3")
    return exp_id, rid


def check_sample(url, exp_id, rid, tag):
    """Reads the sample back through another server and checks every part of it."""
    client = mlflow.MlflowClient(tracking_uri=url)
    exp = client.get_experiment(exp_id)
    assert exp.name == f"compat-{tag}" and exp.tags["origin"] == tag
    run = client.get_run(rid)
    assert run.info.run_name == f"run-{tag}" and run.info.status == "FINISHED" and run.info.end_time == 5000
    assert run.data.params == {"lr": "0.1", "layers": "3"}
    assert run.data.metrics["loss"] == pytest.approx(1 / 50)
    assert math.isnan(run.data.metrics["nan"]) and run.data.metrics["inf"] >= 1.7e308
    assert run.data.tags["stage"] == tag and run.data.tags["team"] == "compat"
    assert [d.dataset.name for d in run.inputs.dataset_inputs] == [f"ds-{tag}"]
    history = client.get_metric_history(rid, "loss")
    assert [m.step for m in history] == list(range(50))
    found = client.search_runs([exp_id], filter_string="params.lr = '0.1' and metrics.loss < 0.05")
    assert [r.info.run_id for r in found] == [rid]

    model = f"compat-model-{tag}"
    registered = client.get_registered_model(model)
    assert registered.tags == {"origin": tag} and registered.description == f"from {tag}"
    assert registered.aliases == {"champion": "2"}
    champion = client.get_model_version_by_alias(model, "champion")
    assert champion.version == "2" and champion.run_id == rid and champion.tags == {"k": "v"}
    assert [v.version for v in client.get_latest_versions(model, stages=["Production"])] == ["1"]
    assert sorted(v.version for v in client.search_model_versions(f"name = '{model}'")) == ["1", "2"]
    # The deleted version's number stays taken, whichever server deleted it.
    assert client.create_model_version(model, f"s3://bucket/{tag}/model", run_id=rid).version == "4"


# Trackway's own indexes beside MLflow's tables (crates/store/src/side.rs); param and tag values
# get none on PostgreSQL, whose B-tree entries cannot hold MLflow's longest values.
TRACKWAY_SIDE_INDEXES = {
    "sqlite": {"trackway_metrics_history", "trackway_latest_metrics_key_value",
               "trackway_latest_metrics_key_run", "trackway_runs_experiment_start",
               "trackway_params_key_value", "trackway_tags_key_value"},
    "postgresql": {"trackway_metrics_history", "trackway_latest_metrics_key_value",
                   "trackway_latest_metrics_key_run", "trackway_runs_experiment_start"},
}


def engine_of(uri):
    return uri.split(":", 1)[0].split("+", 1)[0]


def side_indexes(uri):
    """Names of the trackway_* indexes the database holds."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri)
    try:
        inspector = sqlalchemy.inspect(engine)
        return {
            index["name"]
            for table in ("runs", "metrics", "latest_metrics", "params", "tags")
            for index in inspector.get_indexes(table)
            if index["name"].startswith("trackway_")
        }
    finally:
        engine.dispose()


def structure(uri):
    """MLflow's tables as SQLAlchemy reads them back (columns, keys, indexes, constraints) and,
    on PostgreSQL, the triggers and functions; Trackway's side indexes left out."""
    import sqlalchemy

    def by_name(items):
        return sorted(items, key=lambda item: str(item.get("name")))

    engine = sqlalchemy.create_engine(uri)
    try:
        inspector = sqlalchemy.inspect(engine)
        tables = {}
        for table in sorted(inspector.get_table_names()):
            tables[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                            for c in inspector.get_columns(table)],
                "primary key": inspector.get_pk_constraint(table),
                "foreign keys": by_name(inspector.get_foreign_keys(table)),
                "indexes": by_name(i for i in inspector.get_indexes(table)
                                   if not i["name"].startswith("trackway_")),
                "unique": by_name(inspector.get_unique_constraints(table)),
                "checks": by_name(inspector.get_check_constraints(table)),
            }
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                tables["(triggers)"] = conn.execute(sqlalchemy.text(
                    "SELECT tgname, tgrelid::regclass::text, tgfoid::regproc::text FROM pg_trigger "
                    "WHERE NOT tgisinternal ORDER BY 1")).all()
                tables["(sequences)"] = conn.execute(sqlalchemy.text(
                    "SELECT sequencename, data_type::text, start_value, increment_by "
                    "FROM pg_sequences ORDER BY 1")).all()
        return tables
    finally:
        engine.dispose()


def fresh_db_like(uri, tmp_path):
    """Another empty database on the same engine as `uri`: (uri, drop)."""
    if engine_of(uri) == "sqlite":
        return f"sqlite:///{tmp_path / 'made-by-trackway.db'}", lambda: None
    return new_pg_database()


@pytest.fixture
def empty_db(backend_uri):
    return backend_uri


def test_trackway_database_opens_in_mlflow(empty_db, tmp_path):
    trackway = Server(empty_db, tmp_path / "trackway")
    try:
        exp_id, rid = write_sample(trackway.url, "trackway")
    finally:
        assert trackway.stop() == 0

    theirs = MlflowServer(empty_db, tmp_path / "mlflow")
    try:
        check_sample(theirs.url, exp_id, rid, "trackway")
        # MLflow can also write to it...
        mlflow.MlflowClient(tracking_uri=theirs.url).log_metric(rid, "added_by_mlflow", 7.0, timestamp=1, step=0)
    finally:
        theirs.stop()

    # ...and Trackway reads what MLflow wrote.
    again = Server(empty_db, tmp_path / "trackway-again")
    try:
        assert mlflow.MlflowClient(tracking_uri=again.url).get_run(rid).data.metrics["added_by_mlflow"] == 7.0
    finally:
        again.stop()


def test_mlflow_database_is_served_by_trackway(empty_db, tmp_path):
    theirs = MlflowServer(empty_db, tmp_path / "mlflow")
    try:
        exp_id, rid = write_sample(theirs.url, "mlflow")
    finally:
        theirs.stop()

    assert side_indexes(empty_db) == set()
    # The schema Trackway creates is the one MLflow made, table for table.
    made_by_mlflow = structure(empty_db)
    assert len(made_by_mlflow) > 60
    ours, drop = fresh_db_like(empty_db, tmp_path)
    try:
        Server(ours, tmp_path / "trackway-fresh").stop()
        assert structure(ours) == made_by_mlflow
    finally:
        drop()

    trackway = Server(empty_db, tmp_path / "trackway")
    try:
        assert "(Current schema)" in trackway.log_text()
        # The side indexes are added in the background once the server is up.
        deadline = time.time() + 30
        while side_indexes(empty_db) != TRACKWAY_SIDE_INDEXES[engine_of(empty_db)]:
            assert time.time() < deadline, side_indexes(empty_db)
            time.sleep(0.2)
        check_sample(trackway.url, exp_id, rid, "mlflow")
        client = mlflow.MlflowClient(tracking_uri=trackway.url)
        new_exp = client.create_experiment("after-mlflow")
        assert int(new_exp) > int(exp_id)
        client.log_metric(rid, "added_by_trackway", 3.0)
        assert client.get_run(rid).data.metrics["added_by_trackway"] == 3.0
    finally:
        assert trackway.stop() == 0
