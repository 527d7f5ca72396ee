"""Browser fixtures: Trackway serving MLflow's web UI, and headless Chromium driving it.

Chromium comes from Debian's `chromium` package (/usr/bin/chromium) and is driven by
Playwright's Python package (its driver only: no browser is downloaded). The UI is the one
`trackway ui install` put into TRACKWAY_DATA_DIR (the README's test command installs it before
these tests run).

Every page visit records what the browser saw go wrong: an answer >= 400 from the API paths
the UI uses, a request that failed, or a console error. `Browser.assert_clean()` fails the test
with that list. Screenshots go to TRACKWAY_TEST_OUTPUT (default: the pytest temporary
directory).
"""
import importlib.util
import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The server fixtures of the end-to-end suite, loaded under another name so both conftest
# modules can live in one checkout.
_spec = importlib.util.spec_from_file_location("e2e_conftest", ROOT / "tests" / "python" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

CHROMIUM = os.environ.get("TRACKWAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
# Paths whose failures count: the API the UI calls and the artifact downloads.
WATCHED = ("/ajax-api/", "/graphql", "/get-artifact", "/model-versions/get-artifact")
# 404s that MLflow 3.17.2's own server gives this UI, and that the UI asks for on purpose:
EXPECTED_404 = (
    # Who is logged in: without authentication (MLflow's server included) the answer is 404,
    # which the UI reads as "authentication is off". Anything else would make it offer account
    # pages for a user that does not exist.
    "/ajax-api/2.0/mlflow/users/current",
    # The create and rename dialogs check that a name is free by looking it up: 404 means free.
    # MLflow's clients rely on the same 404 (get_experiment_by_name returns None on it).
    "/ajax-api/2.0/mlflow/experiments/get-by-name",
)


# How MLflow's UI shows an error: an alert of the error kind (e.g. "Experiment load error: ...")
# or an error notification.
ERROR_BANNERS = "[class*='alert-error'], [class*='notification-notice-error']"


def ui_data_dir():
    data = os.environ.get("TRACKWAY_DATA_DIR")
    if not data or not (Path(data) / "ui" / "mlflow-3.17.2" / "index.html").is_file():
        pytest.exit(
            "the web UI is not installed: run `trackway ui install --data-dir DIR` and set "
            "TRACKWAY_DATA_DIR=DIR (the README's test command does both)", returncode=2)
    return data


def output_dir(tmp_path_factory):
    out = os.environ.get("TRACKWAY_TEST_OUTPUT")
    path = Path(out) / "screenshots" if out else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


class Browser:
    """One Chromium page with failure tracking and named screenshots."""

    def __init__(self, page, base_url, shots, prefix=""):
        self.page = page
        self.base = base_url
        self.shots = shots
        # Screenshots of each set-up go side by side: "<set-up>-<page>.png".
        self.prefix = prefix
        self.problems = []
        page.on("response", self._on_response)
        page.on("requestfailed", self._on_request_failed)
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _path(self, url):
        return url[len(self.base):] if url.startswith(self.base) else url

    def _watched(self, url):
        path = self._path(url).split("?")[0]
        return any(path.startswith(p) for p in WATCHED) and path not in EXPECTED_404

    def _on_response(self, response):
        if response.status >= 400 and self._watched(response.url):
            body = ""
            try:
                body = response.text()[:300]
            except Exception:  # noqa: BLE001 - the body may be gone after navigation
                pass
            self.problems.append(
                f"{response.status} {response.request.method} {self._path(response.url)}: {body}")

    def _on_request_failed(self, request):
        # Requests cancelled because the page moved on are not failures of the server.
        if request.failure and "ERR_ABORTED" in request.failure:
            return
        if self._watched(request.url):
            self.problems.append(f"failed {request.method} {self._path(request.url)}: {request.failure}")

    def _on_console(self, message):
        if message.type != "error":
            return
        url = (message.location or {}).get("url", "")
        if any(self._path(url).startswith(p) for p in EXPECTED_404):
            return
        # Resources of other hosts cannot load on this offline machine (the empty traces page
        # embeds a video from mlflow.org); they are not Trackway's to serve.
        if url.startswith(("http://", "https://")) and not url.startswith(self.base):
            return
        self.problems.append(f"console error: {message.text[:300]} ({url})")

    def goto(self, path):
        self.page.goto(self.base + path)

    def shot(self, name):
        """Saves a screenshot, and records any error banner or error toast on screen."""
        self.page.screenshot(path=str(self.shots / f"{self.prefix}{name}.png"), full_page=False)
        banners = self.page.locator(ERROR_BANNERS).filter(visible=True)
        for text in banners.all_inner_texts():
            self.problems.append(f"error banner on {name}: {text[:300]}")

    def assert_clean(self):
        problems, self.problems = self.problems, []
        assert not problems, "the UI saw failures:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def playwright_chromium():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.exit(f"Chromium not found at {CHROMIUM}: install Debian's chromium package "
                    "(apt-get install chromium)", returncode=2)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_browser(playwright_chromium, tmp_path_factory):
    """Makes a Browser on a fresh context (no cookies or local storage) for a server URL."""
    contexts = []
    shots = output_dir(tmp_path_factory)

    def make(base_url, prefix=""):
        context = playwright_chromium.new_context(
            viewport={"width": 1800, "height": 1000}, accept_downloads=True)
        context.set_default_timeout(20_000)
        contexts.append(context)
        return Browser(context.new_page(), base_url, shots, prefix)

    yield make
    for context in contexts:
        context.close()
