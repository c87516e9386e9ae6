"""The Streamlit app, page by page, through AppTest against a database written by
the store's write path (see conftest.build_sample_db)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from scratchlab.reports import pages

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"


@pytest.fixture
def open_page(sample_db, monkeypatch):
    """``open_page(page, sidebar={...}, page_query={...})``: the app run on ``page`` with
    those URL query parameters, asserted to have raised nothing."""
    monkeypatch.setenv("SCRATCHLAB_DB", sample_db.url)

    def run(page: str, sidebar: dict | None = None, page_query: dict | None = None) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params.update(sidebar or {})
        at.run()
        if page != pages.PAGES[0].url:
            # page keys are set once the first run (on the default page) has dropped foreign ones
            at.query_params.update(page_query or {})
            (chosen,) = [p for p in pages.PAGES if p.url == page]
            at.switch_page(str(chosen.path)).run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        return at

    return run


def charts(at: AppTest) -> list:
    """The Altair/Vega-Lite charts on the page."""
    return list(at.get("vega_lite_chart"))


def frame_with(at: AppTest, column: str):
    """The first table on the page that has ``column``."""
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(
        f"no table with {column!r}: {[list(d.value.columns) for d in at.dataframe]}"
    )


def test_a_page_added_to_the_list_is_in_the_menu_and_opens(open_page, tmp_path, monkeypatch):
    """Adding a page is a script and one Page row (docs/architecture.md)."""
    script = tmp_path / "hello.py"
    script.write_text(
        'import streamlit as st\n\nst.title("Hello")\nst.write("a page from a test")\n'
    )
    added = pages.Page(script, "Hello", ":material/waving_hand:", "hello")
    monkeypatch.setattr(pages, "PAGES", (*pages.PAGES, added))
    at = open_page("hello")
    assert at.title[0].value == "Hello"
    assert "a page from a test" in [m.value for m in at.markdown]


def test_sweeps_page_lists_sweeps_with_counts_command_and_environment(open_page, sample_db):
    at = open_page("sweeps")
    sweeps = frame_with(at, "n_runs")
    assert list(sweeps["name"]) == ["matmul-cpu-rerun", "init-train", "matmul-cpu"]
    assert list(sweeps["n_runs"]) == [5, 11, 5]
    assert list(sweeps["failed"]) == [0, 1, 0] and list(sweeps["skipped"]) == [1, 0, 1]
    assert at.code[0].value == "runner sweep --plugins matmul"
    environment = frame_with(at, "key")
    assert dict(zip(environment["key"], environment["value"]))["torch"] == "2.4.0"
    assert charts(at)


def test_runs_page_shows_params_status_and_errors_as_text(open_page, sample_db, samples):
    at = open_page(
        "runs",
        sidebar={"sweep": str(sample_db.train_sweep)},
        page_query={"runs.experiment": "train"},
    )
    runs = frame_with(at, "run_id")
    # what varies among the train runs is a column; what they share is said once
    assert len(runs) == 7 and {"lr", "init", "error"} <= set(runs.columns)
    assert "activation" not in runs.columns
    assert any("activation=relu" in samples.as_shown(c.value) for c in at.caption)
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["error"].startswith("FloatingPointError: loss is nan")
    # the full traceback is shown verbatim as code text, markup and HTML included
    assert samples.TRACEBACK in [c.value for c in at.code]
    assert not at.get("html") and all("<script>" not in m.value for m in at.markdown)
    assert len(at.get("download_button")) == 2


def test_runs_page_filters_from_the_url_and_pages(open_page, sample_db, samples):
    at = open_page("runs", sidebar={"status": "failed,skipped"})
    options = [samples.as_shown(o) for o in at.radio(key="runs.experiment").options]
    assert options == ["matmul (2)", "train (1)"]
    runs = frame_with(at, "run_id")
    assert sorted(runs["run_id"]) == sorted(sample_db.skipped_runs)
    assert samples.SKIP_REASON in runs["error"].tolist()
    at.radio(key="runs.experiment").set_value("train").run()
    assert list(frame_with(at, "run_id")["run_id"]) == [sample_db.failed_run]
    at = open_page("runs", sidebar={"where": "lr>=0.5"})
    assert sorted(frame_with(at, "run_id")["lr"]) == [0.5, 0.5, 0.5, 5.0]
    at = open_page("runs", page_query={"runs.size": "10", "runs.page": "3"})
    assert len(frame_with(at, "run_id")) == 10  # page 3 of matmul's one page: its last
    assert "matmul runs 1–10 of 10" in [samples.as_shown(c.value) for c in at.caption]
    at = open_page("runs", page_query={"runs.experiment": "init-stats", "runs.size": "10"})
    assert "init-stats runs 1–4 of 4" in [samples.as_shown(c.value) for c in at.caption]


def test_timings_page_lists_every_strategy_with_its_median(open_page, sample_db, samples):
    at = open_page("timings", sidebar={"sweep": str(sample_db.matmul_sweep)})
    table = frame_with(at, "median (µs)")
    assert sorted(table["matmul"].unique()) == sorted(samples.STRATEGIES)
    for row in table.to_dict("records"):
        assert row["median (µs)"] == pytest.approx(
            samples.expected_median(row["matmul"], row["shape"]) * 1e6
        )
    torch_rows = table[table["matmul"] == "torch"]
    # default baseline: the slowest strategy (python), 2000x slower than torch
    assert list(torch_rows["speed-up"].round(3)) == [2000.0, 2000.0]
    spec = json.loads(charts(at)[0].proto.spec)
    assert spec["layer"][0]["encoding"]["x"]["scale"]["type"] == "log"


def test_timings_page_compares_two_sweeps_and_warns_about_environments(open_page, sample_db):
    at = open_page(
        "timings",
        sidebar={"sweep": str(sample_db.rerun_sweep)},
        page_query={"timings.against": str(sample_db.matmul_sweep), "timings.baseline": "torch"},
    )
    comparison = frame_with(at, "change")
    flagged = comparison[comparison["change"] != "within noise"]
    assert sorted(flagged["matmul"]) == ["einsum", "einsum"] and set(flagged["change"]) == {
        "slower"
    }
    assert any("different environments" in w.value for w in at.warning)
    assert frame_with(at, "before").to_dict("records") == [
        {"key": "torch", "before": "2.3.0", "after": "2.4.0"}
    ]
    assert set(frame_with(at, "median (µs)").query("matmul == 'python'")["speed-up"].round(6)) == {
        0.0005
    }
    assert at.query_params["timings.against"] == str(sample_db.matmul_sweep)


def test_activations_page_shows_layers_and_the_first_non_finite_layer(
    open_page, sample_db, samples
):
    at = open_page("activations", page_query={"activations.model": "deep"})
    assert at.caption[0].value.startswith(f"Showing sweep #{sample_db.train_sweep}")
    table = frame_with(at, "first_nonfinite")
    broken = table[table["first_nonfinite"].notna()]
    assert list(broken["combo"]) == ["randn × relu"] and list(broken["first_nonfinite"]) == [
        samples.FIRST_NONFINITE
    ]
    assert any("non-finite" in w.value for w in at.warning)
    # facets (one panel per activation) nest the encoding under "spec", layers under "layer"
    specs = [json.loads(c.proto.spec) for c in charts(at)]
    encodings = [
        (inner["layer"][0] if "layer" in inner else inner)["encoding"]
        for inner in (s.get("spec", s) for s in specs)
    ]
    std = next(e for e in encodings if e["y"]["field"] == "std" and e["x"]["field"] == "layer")
    assert std["y"]["scale"]["type"] == "log" and std["color"]["field"] == "init"
    assert any("facet" in json.loads(c.proto.spec) for c in charts(at))
    # train runs recorded statistics per step: the per-step chart is there
    assert any(e["x"]["field"] == "step" for e in encodings)


def test_training_page_aggregates_repeats_and_lists_final_metrics(open_page, sample_db):
    at = open_page("training", sidebar={"experiment": "train", "status": "done"})
    summary = frame_with(at, "valid_accuracy mean")
    rows = {r["config"]: r for r in summary.to_dict("records")}
    assert set(rows) == {"lr=0.1", "lr=0.5"}
    assert rows["lr=0.5"]["runs"] == 3
    assert rows["lr=0.5"]["valid_accuracy mean"] == pytest.approx(0.96)
    assert rows["lr=0.1"]["samples_per_s mean"] == pytest.approx(2000.0)
    titles = [json.loads(c.proto.spec)["title"] for c in charts(at)]
    assert any(str(t).startswith("train_loss") for t in titles)
    marks = [
        layer["mark"]["type"] for c in charts(at) for layer in json.loads(c.proto.spec)["layer"]
    ]
    assert "area" in marks  # the confidence band of the repeats


def test_compare_page_shows_only_differing_settings_and_every_metric(open_page, sample_db):
    first, fourth = sample_db.train_runs[0], sample_db.train_runs[3]
    at = open_page("compare", page_query={"compare.runs": f"{first},{fourth}"})
    settings = frame_with(at, "setting")
    names = {first: f"#{first} lr=0.1", fourth: f"#{fourth} lr=0.5"}
    assert settings.to_dict("records") == [
        {"setting": "lr", names[first]: "0.1", names[fourth]: "0.5"}
    ]
    metrics = frame_with(at, "metric").set_index("metric")
    assert {"samples_per_s", "train_loss", "valid_accuracy", "valid_loss"} <= set(metrics.index)
    assert metrics.loc["valid_accuracy", names[fourth]] == pytest.approx(0.95)


def test_sidebar_choices_are_written_to_the_url(open_page, sample_db):
    at = open_page("runs")
    at.sidebar.multiselect(key="status").select("failed").run()
    at.sidebar.multiselect(key="sweep").select(sample_db.train_sweep).run()
    assert at.query_params["status"] == "failed" and at.query_params["sweep"] == str(
        sample_db.train_sweep
    )
    assert list(frame_with(at, "run_id")["run_id"]) == [sample_db.failed_run]


@pytest.mark.parametrize("content", [None, b"this is not a database"])
def test_a_missing_or_unreadable_database_is_one_message(tmp_path, monkeypatch, content, samples):
    path = tmp_path / "runs.db"
    if content is not None:
        path.write_bytes(content)
    monkeypatch.setenv("SCRATCHLAB_DB", f"sqlite:///{path}")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert len(at.error) == 1 and str(path) in samples.as_shown(
        at.error[0].value + at.caption[-1].value
    )
    assert not path.exists() or path.read_bytes() == content  # nothing created, nothing changed


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_every_page_renders_its_title_and_the_app_never_imports_torch(sample_db):
    """One session through the app's own page list (a new page is opened here too), in a fresh
    interpreter: each page shows its title with no exception and no error, and nothing the app
    runs imports torch."""
    script = f"""
import json, os, sys
os.environ["SCRATCHLAB_DB"] = {sample_db.url!r}
from streamlit.testing.v1 import AppTest
at = AppTest.from_file({str(APP)!r}, default_timeout=60).run()
shown = {{}}
for page in {[p.url for p in pages.PAGES]!r}:
    if shown:  # the first page is the one the app opens on
        at.switch_page(f"app_pages/{{page}}.py").run()
    shown[page] = {{
        "title": [t.value for t in at.title][:1],
        "exceptions": [e.value for e in at.exception],
        "errors": [e.value for e in at.error],
    }}
print(json.dumps({{"pages": shown, "torch": "torch" in sys.modules}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["pages"] == {
        page.url: {"title": [page.title], "exceptions": [], "errors": []} for page in pages.PAGES
    }
    assert seen["torch"] is False


def test_a_bad_where_expression_is_explained_and_ignored(sample_db, monkeypatch, samples):
    monkeypatch.setenv("SCRATCHLAB_DB", sample_db.url)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["where"] = "lr>=fast"
    at.run().switch_page("app_pages/runs.py").run()
    assert not at.exception
    assert [samples.as_shown(e.value) for e in at.sidebar.error] == [
        "filter 'lr>=fast': >= needs a number, not 'fast'"
    ]
    # every run: nothing filtered
    assert "matmul runs 1–10 of 10" in [samples.as_shown(c.value) for c in at.caption]
    options = [samples.as_shown(o) for o in at.radio(key="runs.experiment").options]
    assert options == ["matmul (10)", "init-stats (4)", "train (7)"]
