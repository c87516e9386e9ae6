"""A headless Chromium driven over its DevTools protocol, and a ``streamlit run``
server of the report app: what the browser test and ``benchmarks/browser_pages.py``
use to open pages as a person would.

Chromium is driven over a websocket with tornado's client (Streamlit already
installs tornado). ``--dump-dom`` returns before Streamlit's websocket has
delivered the page, so :meth:`Chromium.visit` polls the page until it shows
its title and what it must draw, and Streamlit is idle. Every request the page
makes is recorded, so a test can check that no stored string made the browser
fetch anything from outside. Nothing here is imported by the app.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"
#: what ``runner report`` serves: ``app.py`` with its imports warmed (``reports/server.py``)
SERVER = Path(__file__).resolve().parent / "server.py"

#: the elements a Vega chart draws into (a JavaScript selector, put in for ``CHARTS`` below)
CHARTS = """'[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg'"""

#: how many charts are drawn: a canvas with a drawn pixel (sampled), an svg with marks. Vega
#: creates and sizes the canvas first, then draws into it. Read only while a page settles:
#: copying every canvas's pixels is too slow for the probe polled until a page is ready.
PAINTED = """(() => {
  function painted(chart) {
    if (chart.tagName.toLowerCase() === 'svg') return chart.querySelector('path, rect, text') !== null;
    if (!chart.width || !chart.height) return false;
    try {
      const pixels = chart.getContext('2d').getImageData(0, 0, chart.width, chart.height).data;
      for (let i = 3; i < pixels.length; i += 4 * 7) if (pixels[i] !== 0) return true;
    } catch (e) { return true; }  // a canvas that cannot be read was drawn by someone
    return false;
  }
  return Array.from(document.querySelectorAll(CHARTS)).filter(painted).length;
})()""".replace("CHARTS", CHARTS)

#: what a page shows once Streamlit has rendered it (one JSON object)
PROBE = """JSON.stringify({
  url: location.href,
  title: (document.querySelector('h1') || {}).textContent || null,
  charts: document.querySelectorAll(CHARTS).length,
  tables: document.querySelectorAll('[data-testid="stDataFrame"], [data-testid="stTable"]').length,
  exceptions: document.querySelectorAll('[data-testid="stException"]').length,
  errors: Array.from(document.querySelectorAll('[data-testid="stAlertContentError"]')).map(e => e.textContent),
  running: !!document.querySelector('[data-testid="stStatusWidget"]') || window.__scratchlabMoved === false
    || ['running', 'rerunRequested'].includes((document.querySelector('[data-testid="stApp"]') || {dataset: {}}).dataset.testScriptState),
  text: document.body ? document.body.innerText : '',
  images: Array.from(document.querySelectorAll('img')).map(e => e.getAttribute('src') || ''),
  links: Array.from(document.querySelectorAll('a[href]')).map(e => e.getAttribute('href')),
  icons: Array.from(document.querySelectorAll('link[rel*="icon"]')).map(e => e.href),
  strong: Array.from(document.querySelectorAll('[data-testid="stMain"] strong, [data-testid="stMain"] em,'
    + ' [data-testid="stMain"] .katex, [data-testid="stMain"] code span[style*="color"],'
    + ' [data-testid="stMain"] span[class*="colored"]')).map(e => e.textContent),
})""".replace("CHARTS", CHARTS)


#: go to a URL of the open app as Back, Forward or an in-app link does: the URL changes without
#: a reload and Streamlit reruns for the new page and query string. ``__scratchlabMoved`` stays
#: false (the probe's ``running``) until the app has started that run, so the probe never takes
#: the previous page, still shown, for the new one. (Takes the URL as a JSON string.)
MOVE = """(() => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app) return false;
  window.__scratchlabMoved = false;
  if (!window.__scratchlabWatch) {
    window.__scratchlabWatch = new MutationObserver(() => {
      if (app.dataset.testScriptState !== 'notRunning') window.__scratchlabMoved = true;
    });
    window.__scratchlabWatch.observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
  }
  history.pushState(null, '', URL);
  window.dispatchEvent(new PopStateEvent('popstate'));
  return true;
})()"""


def chromium_binary() -> str | None:
    """The Chromium executable on PATH, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, timeout: float) -> str:
    """GET ``url`` until it answers 200 or ``timeout`` seconds pass; the body."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@contextmanager
def served_app(db_url: str, workdir: Path, *extra: str, script: Path = SERVER):
    """``streamlit run <script> -- --db db_url`` on a free loopback port (``script``:
    :data:`SERVER`, as ``runner report`` serves it, or :data:`APP`, the plain script);
    yields its base URL. The server's output goes to ``workdir/streamlit.log``."""
    port = free_port()
    with (workdir / "streamlit.log").open("wb") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(script),
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                *extra,
                "--",
                "--db",
                db_url,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
        try:
            wait_for(f"http://127.0.0.1:{port}/_stcore/health", timeout=90)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            server.wait(timeout=20)


@dataclass
class Visit:
    """What one page visit saw: the last probe, every URL requested, and seconds until ready."""

    state: dict
    requests: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ready(self) -> bool:
        """True when the page finished rendering before the timeout."""
        return bool(self.state.get("ready"))


def _page_socket(port_file: Path, process: subprocess.Popen) -> str:
    """The DevTools websocket URL of a starting Chromium's first page, once it has written
    its ``DevToolsActivePort`` file (at most 30 s)."""
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text().strip()):
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError("chromium did not open its DevTools port")
        time.sleep(0.1)
    port = int(port_file.read_text().split()[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as response:
        targets = json.load(response)
    return next(t["webSocketDebuggerUrl"] for t in targets if t["type"] == "page")


class Chromium:
    """A headless Chromium with a DevTools endpoint on its first page."""

    def __init__(self, profile: Path, size: str = "1400,1000") -> None:
        binary = chromium_binary()
        if binary is None:
            raise RuntimeError("no chromium binary (apt-get install chromium)")
        profile.mkdir(parents=True, exist_ok=True)
        port_file = profile / "DevToolsActivePort"
        port_file.unlink(missing_ok=True)  # a reused profile's last port is not this browser's
        self.process = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                f"--user-data-dir={profile}",
                f"--window-size={size}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self.page_socket = _page_socket(port_file, self.process)
        except BaseException:
            self.close()  # a browser that never answered must not outlive the failure
            raise

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop the browser."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def click_page(
        self,
        url_path: str,
        title: str,
        ready: str = "title",
        screenshot: Path | None = None,
        timeout: float = 180,
        settle: float = 0.0,
    ) -> Visit:
        """Open another page of the app already shown by clicking its sidebar link (as a
        person moves between pages: no reload), and wait until it shows ``title``, a
        ``ready`` element and Streamlit is idle; ``seconds`` counts from the click."""
        link = f'[data-testid="stSidebarNav"] a[href$="/{url_path}"]'
        action = f"(() => {{ const a = document.querySelector({link!r}); if (a) a.click(); return !!a; }})()"
        return asyncio.run(
            self._visit(None, ready, screenshot, timeout, settle, False, action=action, title=title)
        )

    def move(
        self,
        url: str,
        title: str,
        ready: str = "title",
        screenshot: Path | None = None,
        timeout: float = 180,
        settle: float = 1.0,
        expect: str | None = None,
    ) -> Visit:
        """Go to ``url``, another page or query of the app already shown, without a reload
        (:data:`MOVE`: as Back, Forward or an in-app link; the page keeps its session, so
        it skips Streamlit's page boot: about 1.5 s of Chromium's CPU a page), and wait as
        :meth:`visit` does until it shows ``title`` (and ``expect``); ``seconds`` counts
        from the move. The session's sidebar choices stay, as for a person who clicks on:
        a ``url`` without a sidebar key keeps its value."""
        action = MOVE.replace("URL", json.dumps(url))
        return asyncio.run(
            self._visit(
                None, ready, screenshot, timeout, settle, False, action, title, expect=expect
            )
        )

    def visit(
        self,
        url: str,
        ready: str = "title",
        screenshot: Path | None = None,
        timeout: float = 180,
        settle: float = 1.0,
        full_page: bool = False,
        expect: str | None = None,
    ) -> Visit:
        """Open ``url`` and wait until it shows a title, at least one ``ready`` element
        (``charts``, ``tables`` or ``title``), the text ``expect`` when given, and
        Streamlit is idle; then wait, at most ``settle`` seconds, until every chart is
        drawn and the page stops changing (:func:`_until_settled`), save a PNG
        ``screenshot`` if asked, and return the :class:`Visit`. ``seconds`` counts from
        navigation to ready, settle excluded. (On a busy machine the last elements
        of a script run can reach the page after Streamlit says it is idle: ``expect``
        waits for the one a caller needs.)"""
        return asyncio.run(
            self._visit(url, ready, screenshot, timeout, settle, full_page, expect=expect)
        )

    def wait_for_text(
        self, expect: str, screenshot: Path | None = None, timeout: float = 120, settle: float = 1.0
    ) -> Visit:
        """Stay on the page shown (no navigation, no click) until it shows the text
        ``expect`` and Streamlit is idle: what a page does on its own, such as
        following a sweep that started after it was opened."""
        return asyncio.run(
            self._visit(
                None, "title", screenshot, timeout, settle, False, action="true", expect=expect
            )
        )

    async def _visit(
        self,
        url,
        ready,
        screenshot,
        timeout,
        settle,
        full_page,
        action: str | None = None,
        title: str | None = None,
        expect: str | None = None,
    ) -> Visit:
        page = await DevTools.connect(self.page_socket)
        try:
            await page.call("Network.enable")
            started = time.monotonic()
            if action is None:
                await page.call("Page.navigate", url=url)
            else:
                clicked = await page.call("Runtime.evaluate", expression=action, returnByValue=True)
                if not clicked.get("result", {}).get("value"):
                    raise RuntimeError(f"cannot go to {title!r} from the page shown")
            shown = await _until_shown(page, ready, title, expect, deadline=started + timeout)
            seconds = time.monotonic() - started
            state = {**await _until_settled(page, settle), "ready": shown}
            if screenshot is not None:
                screenshot.write_bytes(await page.screenshot(full_page))
            return Visit(state=state, requests=page.requests, seconds=seconds)
        finally:
            page.close()


class DevTools:
    """A DevTools protocol session with one page: commands and their answers, and every
    URL the page requested meanwhile (``requests``, once ``Network.enable`` was sent)."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.calls = 0
        self.requests: list[str] = []

    @classmethod
    async def connect(cls, page_socket: str) -> DevTools:
        """A session over the page's websocket URL."""
        from tornado.websocket import websocket_connect

        return cls(await websocket_connect(page_socket, max_message_size=64 * 2**20))

    async def call(self, method: str, **params) -> dict:
        """Send ``method`` and wait for its result, recording request events meanwhile."""
        self.calls += 1
        message = {"id": self.calls, "method": method, "params": params}
        self.connection.write_message(json.dumps(message))
        while True:
            message = json.loads(await self.connection.read_message())
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])
            if message.get("id") == self.calls:
                return message.get("result", {})

    async def probe(self) -> dict:
        """What the page shows now (:data:`PROBE`'s object)."""
        result = await self.call("Runtime.evaluate", expression=PROBE, returnByValue=True)
        return json.loads(result.get("result", {}).get("value") or "{}")

    async def painted(self) -> int:
        """How many charts on the page are drawn (:data:`PAINTED`)."""
        result = await self.call("Runtime.evaluate", expression=PAINTED, returnByValue=True)
        return int(result.get("result", {}).get("value") or 0)

    async def screenshot(self, full_page: bool) -> bytes:
        """A PNG of the window, or with ``full_page`` of the whole page (at most 6,000 px tall)."""
        params: dict = {"format": "png"}
        if full_page:
            metrics = await self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics.get("contentSize") or {}
            height = min(int(size.get("height", 1000)), 6000)
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": int(size.get("width", 1400)),
                "height": height,
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        shot = await self.call("Page.captureScreenshot", **params)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        """Close the websocket."""
        self.connection.close()


async def _until_shown(
    page: DevTools, ready: str, title: str | None, expect: str | None, deadline: float
) -> bool:
    """Probe the page until it shows a title (``title`` when given), a ``ready`` element,
    the text ``expect`` when given, and Streamlit is idle: True; False at ``deadline``."""
    while True:
        state = await page.probe()
        titled = state.get("title") if title is None else state.get("title") == title
        shown = expect is None or expect in str(state.get("text", "")).replace("\u2060", "")
        if titled and shown and state.get(ready) and not state.get("running"):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)


#: how long a page must stay the same, every chart drawn, to count as settled
STILL_S = 0.4


async def _until_settled(page: DevTools, settle: float) -> dict:
    """Probe the page until every chart on it is drawn and what it shows (elements,
    drawn charts, text) has not changed for :data:`STILL_S`, or ``settle`` seconds
    pass; the last probe. (Vega draws after Streamlit is idle: a fixed pause was either
    too short on a busy machine or wasted on a quiet one.)"""
    deadline = time.monotonic() + settle
    state = {**await page.probe(), "painted": await page.painted()}
    still_since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = {**await page.probe(), "painted": await page.painted()}
        if _looks(now) != _looks(state):
            still_since = time.monotonic()
        state = now
        drawn = state.get("painted", 0) >= state.get("charts", 0)
        if drawn and time.monotonic() - still_since >= STILL_S:
            break
    return state


def _looks(state: dict) -> tuple:
    """What of a probe tells whether the page is still changing."""
    keys = ("title", "charts", "painted", "tables", "exceptions", "text")
    return tuple(str(state.get(key)) for key in keys)
