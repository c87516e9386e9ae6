"""A page notices a sweep that starts after it was opened (``ui.live_refresh``), in
Chromium: the Sweeps page, opened on a finished sweep, shows the new one and the
live caption on its own, with no click and no reload."""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.db import open_store
from scratchlab.reports import browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report-pages"

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]


def add_sweep(url: str, name: str, finished: bool) -> None:
    with open_store(url) as store:
        sweep = store.create_sweep(name, ["runner", "sweep"], {}, {})
        planned = [
            PlannedRun(key=f"{name}-{i}", experiment="matmul", components={}, params={})
            for i in (1, 2)
        ]
        ids = store.add_runs(sweep, planned)
        store.write_result(ids[f"{name}-1"], RunResult("done"))
        if finished:
            store.write_result(ids[f"{name}-2"], RunResult("done"))
            store.finish_sweep(sweep, "done")


def test_the_sweeps_page_follows_a_sweep_started_after_it_was_opened(chromium, tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    add_sweep(url, "before-the-page", finished=True)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with browser.served_app(url, tmp_path) as base:
        opened = chromium.visit(f"{base}/sweeps", ready="tables", expect="before-the-page")
        assert opened.ready and "live:" not in opened.state["text"]
        add_sweep(url, "started-later", finished=False)
        later = chromium.wait_for_text(
            "live: a sweep is running", screenshot=SHOTS / "sweeps-live.png", timeout=90
        )
    assert later.ready, later.state.get("text", "")[:500]
    assert "#2 started-later is running: 1 of 2 runs finished" in later.state["text"].replace(
        "\u2060", ""
    ).replace("\\", "")
