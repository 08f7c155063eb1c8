"""Fixtures for the browser tests: Debian's headless Chromium driven by Playwright, and Jupyter servers
(JupyterLab, Voilà) started on a free localhost port in throw-away config/data/runtime folders so that
the user's own Jupyter settings are never read or written.

Chromium comes from ``scripts/install_debian_packages.sh`` (apt's ``chromium``); Playwright's own browser
download is never used. Without /usr/bin/chromium every test here is skipped with that reason.
Screenshots of failed tests go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 120  # s; two busy cores and a TensorFlow import

# JupyterLab user settings for the tests: no news/update pop-up, and a notebook without a chosen
# kernel starts the default one instead of asking.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"autoStartDefaultKernel": True},
}


def pytest_collection_modifyitems(items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} not found: run scripts/install_debian_packages.sh to install Debian's chromium"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.call_failed = report.failed
    return report


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def jupyter_env(tmp_path_factory) -> dict:
    """Environment for Jupyter processes: every per-user Jupyter/IPython folder points into a temp dir."""
    home = tmp_path_factory.mktemp("jupyter-home")
    folders = {
        "JUPYTER_CONFIG_DIR": "config",
        "JUPYTER_DATA_DIR": "data",
        "JUPYTER_RUNTIME_DIR": "runtime",
        "JUPYTERLAB_SETTINGS_DIR": "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "lab-workspaces",
        "IPYTHONDIR": "ipython",
    }
    env = dict(os.environ)
    for variable, name in folders.items():
        (home / name).mkdir()
        env[variable] = str(home / name)
    for name, values in LAB_SETTINGS.items():
        path = home / "lab-settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["COURSE_LIB_OFFLINE"] = "1"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("JUPYTER_PATH", None)
    return env


class Server:
    """A Jupyter process on localhost; ``url`` is its base URL. Stopped by ``stop()`` (fixture teardown)."""

    def __init__(self, args: list[str], port: int, env: dict, log: Path, ready_path: str = "/"):
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("w")
        self.process = subprocess.Popen(args, env=env, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=REPO)
        self._wait(ready_path)

    def _wait(self, path: str) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + path, timeout=5) as response:
                    if response.status < 500:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"server not ready after {SERVER_START_TIMEOUT} s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


def _server_log(tmp_path_factory, name: str) -> Path:
    return tmp_path_factory.mktemp("logs") / f"{name}.log"


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """Folder served by the JupyterLab fixture; tests write their notebooks here."""
    return tmp_path_factory.mktemp("lab-root")


@pytest.fixture(scope="session")
def lab_server(jupyter_env, lab_root, tmp_path_factory):
    """JupyterLab on a free port, no token, app exposed as ``window.jupyterapp`` for driving commands."""
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.ip=127.0.0.1",
        "--ServerApp.port_retries=0",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        f"--ServerApp.root_dir={lab_root}",
        "--LabApp.expose_app_in_browser=True",
        "--allow-root",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    server = Server(args, port, jupyter_env, _server_log(tmp_path_factory, "jupyterlab"), ready_path="/api/status")
    yield server
    server.stop()


@pytest.fixture()
def voila_slides(jupyter_env, tmp_path_factory):
    """Factory: ``voila_slides(notebook)`` serves that notebook as reveal.js slides with a live kernel.

    Uses the same command line as ``python -m course_lib.slides present`` (``course_lib.slides.voila_command``).
    """
    from course_lib.slides import voila_command, voila_environment

    servers = []

    def start(notebook: Path) -> Server:
        port = free_port()
        args = voila_command(notebook, port=port, open_browser=False)
        log = _server_log(tmp_path_factory, f"voila-{Path(notebook).stem}")
        server = Server(args, port, voila_environment(jupyter_env), log, ready_path="/voila/static/voila.js")
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Headless Chromium from Debian, a fresh empty profile."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: run scripts/install_debian_packages.sh")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        yield context
        context.close()


@pytest.fixture()
def page(browser, request):
    """A new tab; a screenshot of it lands in test-artifacts/<test>.png when the test fails."""
    tab = browser.new_page()
    messages = []
    tab.on("console", lambda msg: messages.append(f"{msg.type}: {msg.text}"))
    tab.on("pageerror", lambda error: messages.append(f"pageerror: {error}"))
    tab.console_messages = messages
    yield tab
    if getattr(request.node, "call_failed", False):
        ARTIFACTS.mkdir(exist_ok=True)
        name = "".join(c if c.isalnum() or c in "-_." else "_" for c in request.node.name)
        try:
            tab.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.console.txt").write_text("\n".join(messages))
        except Exception as error:  # a crashed page must not hide the test's own failure
            print(f"screenshot failed: {error}")
    tab.close()


@pytest.fixture()
def snapshot():
    """``snapshot(page, name)`` saves a screenshot as test-artifacts/<name>.png, for a person to look at."""

    def save(page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        return path

    return save
