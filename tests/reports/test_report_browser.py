"""The app served by ``streamlit run`` and loaded page by page in headless Chromium.

Chromium is driven through its DevTools protocol (over a websocket, with
tornado's client, which Streamlit already installs): ``--dump-dom`` returns
before Streamlit's websocket has delivered the page, so the test waits until
the page shows its title and its chart (or table), then saves a screenshot
under ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "reports" / "app.py"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium)"),
]

#: what the page shows once Streamlit has rendered it
PROBE = """JSON.stringify({
  title: (document.querySelector('h1') || {}).textContent || null,
  charts: document.querySelectorAll('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').length,
  tables: document.querySelectorAll('[data-testid="stDataFrame"]').length,
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  errors: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]')).map(e => e.textContent),
  running: !!document.querySelector('[data-testid="stStatusWidget"]'),
})"""

#: (url path and query, title, element that must be drawn)
PAGES = [
    ("", "Sweeps", "charts"),
    ("runs", "Runs", "charts"),
    ("timings?sweep={matmul_sweep}", "Timings", "charts"),
    ("activations", "Activations", "charts"),
    ("training", "Training", "charts"),
    ("compare?compare.runs={first},{second}", "Compare", "tables"),
]


class Chromium:
    """A headless Chromium with a DevTools endpoint, and its first page's websocket URL."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--window-size=1400,1000", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
            targets = json.load(response)
        self.page_socket = next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")

    def close(self) -> None:
        """Stop the browser."""
        self.process.terminate()
        self.process.wait(timeout=15)

    def visit(self, url: str, screenshot: Path, ready: str, timeout: float = 45) -> dict:
        """Open ``url``, wait until it shows a title and a ``ready`` element (charts or
        tables) and Streamlit is idle, save a PNG screenshot; return the last probe."""
        return asyncio.run(self._visit(url, screenshot, ready, timeout))

    async def _visit(self, url: str, screenshot: Path, ready: str, timeout: float) -> dict:
        from tornado.websocket import websocket_connect

        socket = await websocket_connect(self.page_socket, max_message_size=64 * 2**20)
        calls = 0

        async def call(method: str, **params):
            nonlocal calls
            calls += 1
            socket.write_message(json.dumps({"id": calls, "method": method, "params": params}))
            while True:  # skip events until our answer
                message = json.loads(await socket.read_message())
                if message.get("id") == calls:
                    return message.get("result", {})

        try:
            await call("Page.navigate", url=url)
            deadline = time.monotonic() + timeout
            while True:
                result = await call("Runtime.evaluate", expression=PROBE, returnByValue=True)
                state = json.loads(result["result"]["value"])
                if state["title"] and state[ready] and not state["running"]:
                    await asyncio.sleep(1.0)  # let Vega finish drawing for the screenshot
                    break
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
            shot = await call("Page.captureScreenshot", format="png")
            screenshot.write_bytes(base64.b64decode(shot["data"]))
            return state
        finally:
            socket.close()


@pytest.fixture
def served_app(sample_db, tmp_path, samples):
    """``streamlit run reports/app.py -- --db <sample db>`` on a free loopback port; its base URL."""
    port = samples.free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--", "--db", sample_db.url],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )
    try:
        samples.wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def test_every_page_renders_title_and_chart_in_chromium(served_app, sample_db, tmp_path):
    ARTIFACTS.mkdir(exist_ok=True)
    profile = tmp_path / "chromium"
    profile.mkdir()
    browser = Chromium(profile)
    ids = {"matmul_sweep": sample_db.matmul_sweep, "first": sample_db.train_runs[0], "second": sample_db.train_runs[3]}
    try:
        for path, title, ready in PAGES:
            screenshot = ARTIFACTS / f"report-{title.lower()}.png"
            state = browser.visit(f"{served_app}/{path.format(**ids)}", screenshot, ready)
            assert state["title"] == title, state
            assert state[ready] >= 1, (title, state)
            assert state["exceptions"] == 0 and not state["errors"], (title, state)
            assert screenshot.stat().st_size > 10_000  # a drawn page, not a blank one
    finally:
        browser.close()
