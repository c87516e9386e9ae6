"""Stored strings are shown as text: a sweep, model and component named with
Markdown, HTML and links, written through the real write path (``runner sweep
--name`` and the store), opened in Chromium. Nothing is fetched from the
address they point at, nothing is a live link, nothing is bold, coloured or
typeset. Bad links (URL parameters) give one line in the page, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult, StatRecord
from scratchlab.db import open_store
from scratchlab.reports import browser

# a shared 2-core machine makes a page take tens of seconds: the suite-wide 300 s is too short here
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1500)]

#: nothing listens there: a request to it is what the page must never make
TRAP = "127.0.0.1:9"
SWEEP_NAME = f"![px](http://{TRAP}/track.png)"
MODEL = f"**bold** :red[x] $x^2$ <img src=http://{TRAP}/img.png> [link](http://{TRAP}/a) http://{TRAP}/bare"
COMPONENT = f"<b>init</b> [here](http://{TRAP}/c)"
REASON = f"skipped: see ![px](http://{TRAP}/reason.png)"


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory):
    """A matmul sweep named :data:`SWEEP_NAME` by ``runner sweep --name``, then a sweep
    whose model, component and skip reason are hostile, written through the store."""
    path = tmp_path_factory.mktemp("hostile") / "runs.db"
    url = f"sqlite:///{path}"
    command = [
        sys.executable,
        "-m",
        "scratchlab.runner.cli",
        "--db",
        url,
        "sweep",
        "--plugins",
        "matmul",
        "--matmul",
        "torch",
        "-s",
        "matmul.shapes=4x4x4",
        "-s",
        "matmul.min_run_time=0.01",
        "--name",
        SWEEP_NAME,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    started = datetime(2024, 5, 1, tzinfo=UTC)
    with open_store(url) as store:
        sweep = store.create_sweep(MODEL, ["runner", "sweep"], {}, {"cpu": COMPONENT})
        ids = store.add_runs(
            sweep,
            [
                PlannedRun(
                    key="a",
                    experiment="init-stats",
                    components={"init": COMPONENT, "activation": "relu"},
                    params={},
                ),
                PlannedRun(
                    key="b",
                    experiment="init-stats",
                    components={"init": "randn", "activation": "relu"},
                    params={},
                ),
            ],
        )
        stats = [
            StatRecord(MODEL, layer, f"{MODEL}.{layer}", 0.0, 1.0 + layer, -1.0, 1.0, 0.5, 0.0)
            for layer in range(3)
        ]
        store.write_result(
            ids["a"],
            RunResult(
                "done",
                None,
                started,
                started + timedelta(seconds=1),
                stats=stats,
                metrics=[MetricRecord(MODEL, 1.0)],
            ),
        )
        store.write_result(
            ids["b"], RunResult("skipped", REASON, started, started + timedelta(seconds=1))
        )
        store.finish_sweep(sweep, "done")
    return url, sweep


def _outside(requests: list[str]) -> list[str]:
    """The requests that leave the machine: any but to 127.0.0.1 or inline (data:, blob:)."""
    from urllib.parse import urlparse

    return [
        r
        for r in requests
        if not r.startswith(("data:", "blob:")) and urlparse(r).hostname != "127.0.0.1"
    ]


def _assert_inert(visit, *literal: str) -> None:
    state = visit.state
    assert visit.ready, state
    assert not [r for r in visit.requests if TRAP in r], visit.requests
    # nothing leaves the machine: no font server for an icon, no CDN (issue 24 item 19)
    # (headless Chromium may not fetch the tab's icon: where it points is checked too)
    wanted = [*visit.requests, *state["icons"]]
    assert not _outside(wanted), _outside(wanted)
    assert not [src for src in state["images"] if TRAP in src]
    assert not [href for href in state["links"] if TRAP in href], state["links"]
    assert not state["strong"], state[
        "strong"
    ]  # no bold, italics, LaTeX or colour from stored text
    assert state["exceptions"] == 0 and not state["errors"], state
    text = state["text"].replace("\u2060", "")
    for expected in literal:
        assert expected in text, (expected, text[:3000])


def test_hostile_names_are_shown_as_text_in_chromium(hostile_db, chromium, tmp_path):
    url, sweep = hostile_db
    with browser.served_app(url, tmp_path) as base:
        sweeps = chromium.visit(f"{base}/sweeps?sweeps.sweep=1", ready="tables")
        _assert_inert(sweeps, f"#1 {SWEEP_NAME}")
        # then on as a person goes (in-app links: no reload, the session's choices kept)
        chosen = chromium.move(f"{base}/sweeps?sweeps.sweep={sweep}", "Sweeps", ready="tables")
        _assert_inert(chosen, " ".join(MODEL.split()))
        activations = chromium.move(
            f"{base}/activations?sweep={sweep}",
            "Activations",
            ready="charts",
            expect="**bold** :red[x] $x^2$",
        )
        _assert_inert(activations, "**bold** :red[x] $x^2$")
        runs = chromium.move(f"{base}/runs?sweep={sweep}", "Runs", ready="tables", expect=REASON)
        _assert_inert(runs, REASON)
        for name, visit in (("sweeps", chosen), ("activations", activations)):
            assert visit.state["title"], name


@pytest.mark.parametrize(
    ("page", "query"),
    [
        ("compare", {"compare.runs": "99999999999999999999999,1"}),
        ("compare", {"compare.runs": "1,abc"}),
        ("sweeps", {"sweeps.sweep": "-5"}),
        ("runs", {"runs.page": "lots"}),
        ("timings", {"sweep": "99999999999999999999999"}),
    ],
)
def test_a_bad_link_is_one_line_in_the_page(sample_db, monkeypatch, page, query):
    monkeypatch.setenv("SCRATCHLAB_DB", sample_db.url)
    at = AppTest.from_file(str(browser.APP), default_timeout=60)
    # the first run is on the default page (sweeps), which drops other pages' keys
    at.query_params.update(
        query if page == "sweeps" else {k: v for k, v in query.items() if "." not in k}
    )
    at.run()
    # a sidebar key is read (and its problem said) once, on the session's first run
    messages = [w.value for w in at.warning]
    if page != "sweeps":
        at.query_params.update(query)
        at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    messages += [w.value for w in at.warning]
    assert any("Ignored" in m and "\n" not in m for m in messages), messages


def test_plain_escapes_every_markdown_trigger_and_keeps_the_text(samples):
    from scratchlab.reports.views.common import plain

    for text in (
        SWEEP_NAME,
        MODEL,
        COMPONENT,
        "a@b.org www.example.org :material/home: :smile:",
        "x_y*z`q`",
    ):
        escaped = plain(text)
        assert samples.as_shown(escaped) == " ".join(text.split())
        # no unescaped trigger is left: every < [ ] ( : is preceded by a backslash
        assert "://" not in escaped and "](" not in escaped and ":red[" not in escaped
        assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c in "<[]():" and i)
    assert plain("two\nlines") == "two lines"
