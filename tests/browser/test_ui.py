"""MLflow's web UI, served by Trackway, in headless Chromium.

Data is logged with the real MLflow client (3.x, so runs also have logged models); each test
then walks one area of the UI the way a user would, checks that the key content is on screen,
saves a screenshot, and fails on any failed API request or console error (see conftest.py).
"""
import json
import os
import re
import time

import pytest

import conftest
from conftest import e2e, ui_data_dir

mlflow = pytest.importorskip("mlflow")
if not mlflow.__version__.startswith("3."):
    pytest.skip("the browser tests seed logged models, which need the 3.x client",
                allow_module_level=True)

from mlflow import MlflowClient  # noqa: E402


def _quiet_client():
    # The client prints a "View run at" line per run; the tests do not need them.
    os.environ["MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"] = "true"
    return MlflowClient()


def seed(url):
    """Logs what the pages show: nested runs, params, metric histories, a dataset, text and
    image artifacts, a logged and registered model with an alias and a stage, and an
    experiment with more runs than one page of the runs table."""
    import numpy as np
    import pandas as pd
    from mlflow.entities import Metric, Param
    from PIL import Image
    from sklearn.linear_model import LogisticRegression

    mlflow.set_tracking_uri(url)
    client = _quiet_client()
    experiment = mlflow.set_experiment("ui-demo")
    with mlflow.start_run(run_name="parent-run") as parent:
        mlflow.log_params({"lr": 0.1, "depth": 5})
        for step in range(50):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric("acc", 0.71)
        mlflow.set_tag("team", "vision")
        for i in range(3):
            with mlflow.start_run(run_name=f"child-{i}", nested=True):
                mlflow.log_param("fold", i)
                mlflow.log_metric("acc", 0.8 + i / 100)
    with mlflow.start_run(run_name="model-run") as run:
        mlflow.log_params({"lr": 0.01, "depth": 7})
        for step in range(20):
            mlflow.log_metric("loss", 2.0 / (step + 1), step=step)
        mlflow.log_metric("acc", 0.93)
        mlflow.set_tag("stage-note", "candidate")
        frame = pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]})
        mlflow.log_input(mlflow.data.from_pandas(frame, name="train-set"), context="training")
        mlflow.log_text("hello from trackway\n", "notes/readme.txt")
        mlflow.log_image(Image.new("RGB", (64, 64), (200, 30, 30)), "plots/red.png")
        model = LogisticRegression().fit(np.array([[0], [1], [2], [3]]), [0, 0, 1, 1])
        logged = mlflow.sklearn.log_model(
            model, name="churn-model", registered_model_name="churn",
            input_example=np.array([[1.0]]))
    client.set_registered_model_alias("churn", "production", "1")
    client.set_registered_model_tag("churn", "owner", "ml-team")
    # How users register a model logged with 3.x: the client finds the logged model behind
    # the runs:/ URI and registers that.
    second = mlflow.register_model(f"runs:/{run.info.run_id}/churn-model", "churn")
    client.transition_model_version_stage("churn", second.version, "Staging")

    many = client.create_experiment("many-runs")
    now = int(time.time() * 1000)
    for i in range(120):
        r = client.create_run(many, run_name=f"run-{i:03d}", start_time=now + i)
        client.log_batch(r.info.run_id, metrics=[Metric("score", i / 100, now, 0)],
                         params=[Param("idx", str(i))])
        client.set_terminated(r.info.run_id, end_time=now + i + 5)
    return {
        "experiment_id": experiment.experiment_id,
        "parent": parent.info.run_id,
        "run": run.info.run_id,
        "model_id": logged.model_id,
        "many": many,
    }


@pytest.fixture(scope="module", params=e2e.DEPLOYMENTS)
def ui_server(request, tmp_path_factory):
    """A Trackway server with the installed UI, on each deployment, seeded once per module."""
    tmp = tmp_path_factory.mktemp("ui")
    drop = None
    if request.param == "sqlite+local":
        backend = f"sqlite:///{tmp / 'mlflow.db'}"
        artifacts = ["--artifacts-destination", str(tmp / "mlartifacts")]
    else:
        if e2e.pg_admin_url() is None or e2e.s3_endpoint() is None:
            pytest.skip("PostgreSQL or S3 deliberately disabled")
        backend, drop = e2e.new_pg_database()
        artifacts = ["--artifacts-destination", f"s3://{e2e.new_bucket()}/mlflow"]
    server = e2e.Server(backend, tmp / "server", artifacts,
                        env={"TRACKWAY_DATA_DIR": ui_data_dir()})
    server.ids = seed(server.url)
    server.kind = request.param
    yield server
    assert server.stop() == 0, server.log_text()
    if drop:
        drop()


@pytest.fixture
def ui(ui_server, new_browser):
    browser = new_browser(ui_server.url, prefix=f"{ui_server.kind}-")
    browser.ids = ui_server.ids
    browser.kind = ui_server.kind
    yield browser
    browser.assert_clean()


def close_assistant(ui):
    """MLflow 3's UI opens its Assistant panel on first visit; it takes half the width."""
    panel_close = ui.page.get_by_role("button", name="Close")
    try:
        panel_close.last.click(timeout=3000)
    except Exception:  # noqa: BLE001 - the panel is not always there
        pass


def plot(ui):
    """The first chart on screen (Plotly draws them; hidden ones wait in other tabs)."""
    return ui.page.locator(".js-plotly-plot").filter(visible=True).first


def line(ui):
    """The first line drawn in a line chart: there only once the metric history arrived."""
    return ui.page.locator(".js-plotly-plot path.js-line").filter(visible=True).first


def shows(ui, text, **kwargs):
    """Waits until `text` is on screen; on timeout keeps a screenshot of what was there."""
    try:
        ui.page.get_by_text(text, **kwargs).filter(visible=True).first.wait_for()
    except Exception:
        ui.shot("FAILED-waiting-for-" + re.sub(r"[^\w.-]+", "_", str(text))[:60])
        raise


def test_experiments_list_create_rename_delete(ui):
    page = ui.page
    client = MlflowClient(tracking_uri=ui.base)
    ui.goto("/#/experiments")
    close_assistant(ui)
    shows(ui, "ui-demo", exact=True)
    shows(ui, "many-runs", exact=True)
    ui.shot("experiments-list")

    page.get_by_role("button", name="Create", exact=True).click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_placeholder("Input an experiment name").fill("made-in-browser")
    dialog.get_by_role("button", name="Create").click()
    page.get_by_role("heading", name="made-in-browser").or_(
        page.get_by_text("made-in-browser", exact=True)).first.wait_for()
    created = client.get_experiment_by_name("made-in-browser")
    assert created is not None and created.lifecycle_stage == "active"
    ui.shot("experiment-created")

    # Rename and delete from the experiment page's header menu.
    ui.goto(f"/#/experiments/{created.experiment_id}/runs")
    page.get_by_role("button", name="Open header dropdown menu").click()
    page.get_by_role("menuitem", name="Edit experiment").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_placeholder("Enter experiment name").fill("renamed-in-browser")
    dialog.get_by_role("button", name="Save").click()
    shows(ui, "renamed-in-browser")
    assert client.get_experiment(created.experiment_id).name == "renamed-in-browser"
    ui.shot("experiment-renamed")

    page.get_by_role("button", name="Open header dropdown menu").click()
    page.get_by_role("menuitem", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    deadline = time.time() + 10
    while client.get_experiment(created.experiment_id).lifecycle_stage != "deleted":
        assert time.time() < deadline, "the experiment was not deleted"
        time.sleep(0.2)
    ui.goto("/#/experiments")
    page.reload()
    shows(ui, "ui-demo", exact=True)
    assert page.get_by_text("renamed-in-browser", exact=True).count() == 0
    ui.shot("experiment-deleted")


def test_runs_table(ui):
    page = ui.page
    ids = ui.ids
    ui.goto(f"/#/experiments/{ids['experiment_id']}/runs")
    close_assistant(ui)
    shows(ui, "model-run", exact=True)
    shows(ui, "parent-run", exact=True)
    # Child runs are folded under their parent until expanded.
    assert page.get_by_text("child-0", exact=True).count() == 0

    # Param and metric columns.
    page.get_by_role("button", name="Columns").click()
    page.get_by_text("Metrics (2)").click()
    page.get_by_text("Parameters (3)").click()
    page.keyboard.press("Escape")
    shows(ui, "0.93", exact=True)
    shows(ui, "0.01", exact=True)
    ui.shot("runs-table-columns")

    # Nested runs expand under their parent.
    parent_cell = page.get_by_text("parent-run", exact=True).first.locator(
        "xpath=ancestor::div[@role='gridcell'][1]")
    parent_cell.locator("button[data-component-id*='runnamecellrenderer']").click()
    shows(ui, "child-0", exact=True)
    shows(ui, "child-2", exact=True)
    ui.shot("runs-table-nested")

    # The search box takes filter expressions.
    search = page.get_by_placeholder(re.compile("metrics.rmse"))
    search.fill("metrics.acc > 0.9")
    search.press("Enter")
    shows(ui, "1 matching run", exact=True)
    shows(ui, "model-run", exact=True)
    assert page.get_by_text("parent-run", exact=True).count() == 0
    ui.shot("runs-table-search")

    # Paging: 120 runs arrive 100 at a time, the rest with "Load more"; sorted by a metric.
    ui.goto(f"/#/experiments/{ids['many']}/runs")
    shows(ui, "100 matching runs")
    page.get_by_role("button", name="Load more").click()
    shows(ui, "120 matching runs")
    ui.shot("runs-table-paged")

    # Sorting by a metric: ascending score puts the first run logged on top.
    page.get_by_role("button", name="Sort: Created").click()
    page.get_by_text("score", exact=True).filter(visible=True).first.click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Sort: score").click()
    page.get_by_test_id("sort-select-asc").click()
    page.keyboard.press("Escape")
    shows(ui, "run-000", exact=True)
    first_row = page.locator("[role='row'][row-index='0']").filter(visible=True).first
    assert "run-000" in first_row.inner_text()
    first_row.scroll_into_view_if_needed()
    ui.shot("runs-table-sorted")


def test_run_page_and_artifacts(ui):
    page = ui.page
    ids = ui.ids
    base = f"/#/experiments/{ids['experiment_id']}/runs/{ids['run']}"
    ui.goto(base)
    close_assistant(ui)
    shows(ui, "model-run")
    shows(ui, "train-set")
    for text in ("0.93", "acc", "lr", "0.01", "depth"):
        shows(ui, text, exact=True)
    shows(ui, re.compile(r"stage-note:\s*candidate"))
    # The run's logged model, listed on the run page.
    shows(ui, "Logged models (1)")
    shows(ui, "churn-model", exact=True)
    # The versions registered from this run link to the registry.
    page.locator("a[href*='models/churn']").filter(visible=True).first.wait_for()
    ui.shot("run-overview")

    ui.goto(base + "/artifacts")
    page.get_by_text("notes", exact=True).click()
    page.get_by_text("readme.txt", exact=True).click()
    shows(ui, "hello from trackway")
    ui.shot("run-artifact-text")

    with page.expect_download() as download_info:
        # The download icon above the preview (a button without a label).
        page.locator("button[data-component-id*='artifactview']").first.click()
    download = download_info.value
    assert open(download.path(), "rb").read() == b"hello from trackway\n"

    page.get_by_text("plots", exact=True).click()
    page.get_by_text("red.png", exact=True).click()
    # The UI fetches the file from get-artifact and shows it from a blob: URL.
    image = page.locator("img[src^='blob:']").first
    image.wait_for()
    page.wait_for_function("(img) => img.complete && img.naturalWidth === 64", arg=image.element_handle())
    ui.shot("run-artifact-image")


def test_metric_charts(ui):
    page = ui.page
    ids = ui.ids
    ui.goto(f"/#/experiments/{ids['experiment_id']}/runs/{ids['run']}/model-metrics")
    close_assistant(ui)
    shows(ui, "loss", exact=True)
    line(ui).wait_for()
    ui.shot("run-metric-charts")

    # The experiment's chart view draws every run's history (get-history-bulk-interval).
    ui.goto(f"/#/experiments/{ids['experiment_id']}/runs?compareRunsMode=CHART")
    shows(ui, "loss", exact=True)
    line(ui).wait_for()
    ui.shot("experiment-chart-view")


def test_compare_runs(ui):
    page = ui.page
    ids = ui.ids
    runs = json.dumps([ids["run"], ids["parent"]])
    ui.goto(f"/#/compare-runs?runs={runs}&experiments=[\"{ids['experiment_id']}\"]")
    close_assistant(ui)
    shows(ui, "Comparing 2 Runs")
    plot(ui).wait_for()
    ui.shot("compare-parallel-coordinates")
    page.get_by_text("Scatter Plot", exact=True).click()
    plot(ui).wait_for()
    ui.shot("compare-scatter")

    # Line charts of one metric across the runs: the page the compare view links a metric to.
    ui.goto(f"/#/metric?runs={runs}&metric=%22loss%22&experiments=[\"{ids['experiment_id']}\"]"
            "&plot_metric_keys=%5B%22loss%22%5D&plot_layout={}&x_axis=step&y_axis_scale=linear"
            "&line_smoothness=1&show_point=false&deselected_curves=[]&last_linear_y_axis_range=[]")
    line(ui).wait_for()
    ui.shot("compare-line-chart")


def test_logged_models(ui):
    ids = ui.ids
    ui.goto(f"/#/experiments/{ids['experiment_id']}/models")
    close_assistant(ui)
    shows(ui, "churn-model", exact=True)
    ui.shot("logged-models")
    ui.goto(f"/#/experiments/{ids['experiment_id']}/models/{ids['model_id']}")
    shows(ui, ids["model_id"])
    shows(ui, "model-run")
    ui.shot("logged-model")


def test_registry_pages(ui):
    page = ui.page
    ui.goto("/#/models")
    close_assistant(ui)
    shows(ui, "churn", exact=True)
    ui.shot("registered-models")

    ui.goto("/#/models/churn")
    shows(ui, "Version 1")
    shows(ui, "Version 2")
    shows(ui, "production")
    shows(ui, "ml-team")
    ui.shot("registered-model")

    ui.goto("/#/models/churn/versions/2")
    shows(ui, "Version 2")
    shows(ui, "Staging")
    ui.shot("model-version")
    ui.goto("/#/models/churn/versions/1")
    shows(ui, "production")
    page.get_by_role("link", name="model-run").first.wait_for()
    ui.shot("model-version-alias")


def test_genai_pages_show_an_empty_store(ui):
    """Trackway records no traces, judges or evaluation datasets: MLflow 3's GenAI pages show
    what MLflow shows for a store without them, with no failed request."""
    ids = ui.ids
    experiment = ids["experiment_id"]
    for name, path, text in [
        ("overview", f"/#/experiments/{experiment}/overview/usage", "Traces"),
        ("traces", f"/#/experiments/{experiment}/traces", "Traces"),
        ("sessions", f"/#/experiments/{experiment}/chat-sessions", "Sessions"),
        ("evaluation-runs", f"/#/experiments/{experiment}/evaluation-runs", "Evaluation runs"),
        ("evaluation-datasets", f"/#/experiments/{experiment}/datasets", "Datasets"),
        ("judges", f"/#/experiments/{experiment}/judges", "Judges"),
        ("prompts", "/#/prompts", "Prompts"),
    ]:
        ui.goto(path)
        close_assistant(ui)
        shows(ui, text)
        ui.page.wait_for_load_state("load")
        ui.shot(f"genai-{name}")


def test_the_checks_see_a_failing_page(ui_server, new_browser):
    """The failure tracking is not blind: a page that does fail (an experiment that does not
    exist) is caught by it, through the failed request and the error banner."""
    browser = new_browser(ui_server.url, prefix=f"{ui_server.kind}-")
    browser.goto("/#/experiments/987654/runs")
    browser.page.locator(conftest.ERROR_BANNERS).filter(visible=True).first.wait_for()
    browser.shot("deliberately-failing-page")
    problems, browser.problems = browser.problems, []
    assert any("error banner" in p and "987654" in p for p in problems), problems
    assert any(p.startswith(("404", "console error")) for p in problems), problems
