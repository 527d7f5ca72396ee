"""How long MLflow's web UI takes to show the runs table of a 20,000-run experiment, served by
Trackway and by MLflow's own server on the same data, in headless Chromium.

    cargo build --release && target/release/trackway ui install --data-dir .venv/trackway-data
    .venv/mlflow-3.17.2/bin/python bench/ui_open.py   # with playwright and Debian's chromium

Trackway starts on a fresh SQLite database and the experiment is logged through its REST API
(20 params, 20 metrics and 10 tags per run, as in bench/ step 5); MLflow's server then opens a
copy of that database. For each server the page is opened `--repeat` times in a fresh browser
context (nothing cached: a first visit) and once more in the same context (a return visit),
timing `page.goto` until the first row of the runs table is on screen; then `--repeat` times
from inside the running app (the experiments list on screen, the app routed to the
experiment's runs table, as a click does). Prints a table and writes JSON. Asserts no times:
this is a measurement.
"""
import argparse
import json
import os
import platform
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url, proc, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited with {proc.returncode}")
        try:
            if requests.get(url + "/health", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy in {timeout}s")


def seed(url, runs, workers=8):
    api = url + "/api/2.0/mlflow"
    session = requests.Session()
    experiment = session.post(api + "/experiments/create", json={"name": "ui-20k"}).json()
    experiment_id = experiment["experiment_id"]
    now = int(time.time() * 1000)

    def one(i):
        with requests.Session() as s:
            run = s.post(api + "/runs/create", json={
                "experiment_id": experiment_id, "start_time": now + i,
                "run_name": f"run-{i:05d}"}).json()["run"]["info"]["run_id"]
            body = {
                "run_id": run,
                "params": [{"key": f"p{k}", "value": f"value-{(i * 7 + k) % 101}"} for k in range(20)],
                "metrics": [{"key": f"m{k}", "value": ((i * 13 + k) % 997) / 997, "timestamp": now,
                             "step": 0} for k in range(20)],
                "tags": [{"key": f"t{k}", "value": f"tag-{i % 17}"} for k in range(10)],
            }
            s.post(api + "/runs/log-batch", json=body).raise_for_status()
            s.post(api + "/runs/update", json={"run_id": run, "status": "FINISHED",
                                                "end_time": now + i + 1000}).raise_for_status()

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, range(runs)))
    return experiment_id


def measure(browser, url, experiment_id, repeat):
    page_url = f"{url}/#/experiments/{experiment_id}/runs"
    first_row = f"[role='gridcell'] a[href*='#/experiments/{experiment_id}/runs/']"
    cold = []
    context = None
    for _ in range(repeat):
        if context:
            context.close()
        context = browser.new_context(viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        started = time.perf_counter()
        page.goto(page_url)
        page.locator(first_row).first.wait_for(state="visible", timeout=120_000)
        cold.append(time.perf_counter() - started)
    page = context.new_page()
    started = time.perf_counter()
    page.goto(page_url)
    page.locator(first_row).first.wait_for(state="visible", timeout=120_000)
    warm = time.perf_counter() - started
    # Opening the experiment from inside the running app: the experiments list is on screen,
    # then the app routes to the experiment's runs table (what a click does).
    in_app = []
    for _ in range(repeat):
        page.goto(f"{url}/#/experiments")
        page.get_by_text("ui-20k", exact=True).first.wait_for(timeout=120_000)
        started = time.perf_counter()
        page.evaluate(f"window.location.hash = '#/experiments/{experiment_id}/runs'")
        page.locator(first_row).first.wait_for(state="visible", timeout=120_000)
        in_app.append(time.perf_counter() - started)
    context.close()
    return {"first_visit_s": cold, "first_visit_median_s": statistics.median(cold),
            "return_visit_s": warm, "in_app_open_s": in_app,
            "in_app_open_median_s": statistics.median(in_app)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trackway", default="target/release/trackway")
    parser.add_argument("--mlflow", default=".venv/mlflow-3.17.2/bin/mlflow")
    parser.add_argument("--data-dir", default=os.environ.get("TRACKWAY_DATA_DIR", ".venv/trackway-data"),
                        help="where `trackway ui install` put the UI")
    parser.add_argument("--chromium", default=os.environ.get("TRACKWAY_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--runs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default="bench/ui-open.json")
    parser.add_argument("--keep", action="store_true",
                        help="keep the scratch directory with both databases (its path is printed)")
    args = parser.parse_args()
    # The servers run in a scratch directory; paths given relative to here must still work.
    args.trackway, args.mlflow, args.data_dir = (
        str(Path(p).resolve()) for p in (args.trackway, args.mlflow, args.data_dir))

    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="trackway-ui-open-"))
    port = free_port()
    trackway_url = f"http://127.0.0.1:{port}"
    trackway = subprocess.Popen(
        [args.trackway, "server", "--port", str(port), "--backend-store-uri",
         f"sqlite:///{work / 'mlflow.db'}", "--artifacts-destination", str(work / "mlartifacts"),
         "--data-dir", args.data_dir],
        cwd=work, stdout=open(work / "trackway.log", "w"), stderr=subprocess.STDOUT)
    procs = [trackway]
    try:
        wait_healthy(trackway_url, trackway, 30)
        started = time.time()
        experiment_id = seed(trackway_url, args.runs)
        print(f"seeded {args.runs} runs in {time.time() - started:.0f} s", file=sys.stderr)
        with sqlite3.connect(work / "mlflow.db") as source, sqlite3.connect(work / "copy.db") as copy:
            source.backup(copy)
        results = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            # One server at a time: MLflow's workers are still busy importing for a while
            # after /health answers, which would slow the browser measuring the other.
            measure(browser, trackway_url, experiment_id, 1)  # warm the server's own caches
            results["trackway"] = measure(browser, trackway_url, experiment_id, args.repeat)
            browser.close()
        trackway.terminate()
        trackway.wait(timeout=30)
        port = free_port()
        mlflow_url = f"http://127.0.0.1:{port}"
        mlflow = subprocess.Popen(
            [args.mlflow, "server", "--backend-store-uri", f"sqlite:///{work / 'copy.db'}",
             "--artifacts-destination", str(work / "mlartifacts"), "--host", "127.0.0.1",
             "--port", str(port)],
            cwd=work, stdout=open(work / "mlflow.log", "w"), stderr=subprocess.STDOUT)
        procs.append(mlflow)
        wait_healthy(mlflow_url, mlflow, 180)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            measure(browser, mlflow_url, experiment_id, 1)
            results["mlflow"] = measure(browser, mlflow_url, experiment_id, args.repeat)
            browser.close()
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=30)
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "runs": args.runs,
        "results": results,
        "ratio_first_visit": results["mlflow"]["first_visit_median_s"]
        / results["trackway"]["first_visit_median_s"],
        "ratio_in_app_open": results["mlflow"]["in_app_open_median_s"]
        / results["trackway"]["in_app_open_median_s"],
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'server':<10} {'first visit (median)':>22} {'return visit':>14} {'open in app (median)':>22}")
    for name, r in results.items():
        print(f"{name:<10} {r['first_visit_median_s']:>20.2f} s {r['return_visit_s']:>12.2f} s"
              f" {r['in_app_open_median_s']:>20.2f} s")
    print(f"MLflow / Trackway: first visit {report['ratio_first_visit']:.1f}x, "
          f"open in app {report['ratio_in_app_open']:.1f}x")


if __name__ == "__main__":
    main()
