"""The app served by ``streamlit run`` on the database the README's main job wrote (reduced),
opened page by page in headless Chromium, as a person would: every page, the
Run page and the Checks page render their title and what they must draw, with
no exception and no error, and a screenshot of each is saved into the folder
the test prints (``test-artifacts/report-pages/``): the evidence for issue 12.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixtures.main_job import GROUP

from scratchlab.reports import browser, pages

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "test-artifacts" / "report-pages"

# a shared 2-core machine makes a page take tens of seconds: the suite-wide 300 s is too short here
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(1500)]

#: (screenshot name, url path and query, title, element that must be drawn), in the order a
#: person clicks through: the sidebar's sweep and experiment choices stay from page to page
#: (a link without them keeps them), so the pages for one sweep come after those for all
PAGES = [
    ("sweeps", "sweeps", "Sweeps", "tables"),
    ("runs", "runs", "Runs", "tables"),
    ("run-train", "run?run.id={train}", "Run", "charts"),
    ("run-matmul", "run?run.id={matmul}", "Run", "charts"),
    ("checks", "checks", "Checks", "charts"),
    ("compare", "compare?compare.runs={train},{train2}", "Compare", "charts"),
    ("bad-link", "compare?compare.runs=99999999999999999999999,1", "Compare", "title"),
    ("timings", "timings?sweep={main}", "Timings", "charts"),
    ("activations", "activations?sweep={main}", "Activations", "charts"),
    ("activations-mean", "activations?sweep={main}&activations.mean=True", "Activations", "charts"),
    ("training", "training?sweep={main}", "Training", "charts"),
    ("training-log", "training?sweep={main}&training.log=True", "Training", "charts"),
    ("telemetry", "telemetry?sweep={main}", "Telemetry", "title"),
    ("analysis", "analysis?sweep={main}&experiment=train", "Analysis", "charts"),
    (
        "runs-by-accuracy",
        "runs?sweep={main}&experiment=train&runs.sort=valid_accuracy",
        "Runs",
        "tables",
    ),
]
#: the text the bad link's page must show (among the script's last elements: on a busy machine
#: they can reach the page after Streamlit says it is idle, so the visit waits for it by name)
WARNINGS = {"bad-link": "Ignored compare.runs="}


def test_every_page_of_the_app_is_visited():
    """The list above covers the app's own page list (reports/pages.py): no page left out."""
    visited = {path.split("?")[0] for _, path, _, _ in PAGES}
    assert {page.url for page in pages.PAGES} <= visited


def _ids(url: str) -> dict[str, int]:
    from scratchlab.db import open_store, queries

    with open_store(url, read_only=True) as store:
        main = int(queries.list_sweeps(store)["sweep_id"].min())  # the job's (first) sweep
        train = queries.list_runs(store, sweep_ids=[main], experiments=["train"], statuses=["done"])
        matmul = queries.list_runs(
            store, sweep_ids=[main], experiments=["matmul"], statuses=["done"]
        )
    return {
        "main": main,
        "train": int(train["run_id"].iloc[0]),
        "train2": int(train["run_id"].iloc[-1]),
        "matmul": int(matmul["run_id"].iloc[0]),
    }


@GROUP  # the worker that runs the README test builds the main job for both
def test_every_page_renders_in_chromium_on_the_main_job(main_job_db, chromium, tmp_path):
    """The first page is opened by URL; the others as a person goes on from there (in-app
    links, Back and Forward: no reload), which is also what shows a page that reads its
    query string only once showing the previous link's content."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    ids = _ids(main_job_db)
    with browser.served_app(main_job_db, tmp_path) as base:
        for step, (name, path, title, ready) in enumerate(PAGES):
            shot = SHOTS / f"{name}.png"
            url = f"{base}/{path.format(**ids)}"
            expect = WARNINGS.get(name)
            if step == 0:
                visit = chromium.visit(url, ready=ready, screenshot=shot, settle=10.0)
            else:
                visit = chromium.move(
                    url, title, ready=ready, screenshot=shot, settle=10.0, expect=expect
                )
            state = visit.state
            assert visit.ready, (name, {k: v for k, v in state.items() if k != "text"})
            assert state["title"] == title, (name, state["title"])
            # a chart element is not a chart: at least one was drawn into before the shot
            assert ready != "charts" or state["painted"] >= 1, (name, state["painted"])
            assert state["exceptions"] == 0 and not state["errors"], (name, state["errors"])
            assert "Traceback" not in state["text"] and "site-packages" not in state["text"], name
            assert expect is None or expect in state["text"].replace("\u2060", ""), name
            assert shot.stat().st_size > 10_000  # a drawn page, not a blank one


def test_the_root_url_opens_sweeps_and_keeps_the_link(sample_db, chromium, tmp_path):
    with browser.served_app(sample_db.url, tmp_path) as base:
        visit = chromium.visit(f"{base}/?sweep={sample_db.train_sweep}", ready="tables")
        assert visit.state["title"] == "Sweeps"
        assert (
            visit.state["url"].startswith(f"{base}/sweeps")
            and f"sweep={sample_db.train_sweep}" in visit.state["url"]
        )
        direct = chromium.visit(f"{base}/sweeps", ready="tables")
        assert direct.state["title"] == "Sweeps" and "Page not found" not in direct.state["text"]
