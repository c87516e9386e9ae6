"""The pages added for lesson-grade reading, through AppTest on databases written by
the store: the Run page, the Runs page's metric columns and links, the Checks page,
Compare's charts, and the live data version."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store, summaries
from scratchlab.reports import browser
from scratchlab.reports.views import run as run_views

ACTIVATIONS = ("relu", "tanh")
LOSSES = ("nll-naive", "nll-logsumexp", "cross-entropy")


def _open(url: str, page: str, monkeypatch, query: dict | None = None) -> AppTest:
    monkeypatch.setenv("SCRATCHLAB_DB", url)
    at = AppTest.from_file(str(browser.APP), default_timeout=90)
    # sidebar keys are read on the first run; page keys once the page is open
    at.query_params.update({k: v for k, v in (query or {}).items() if "." not in k})
    at.run()
    at.query_params.update(query or {})
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def _table(at: AppTest, column: str):
    for element in at.dataframe:
        if column in element.value.columns:
            return element.value
    raise AssertionError(f"no table with {column!r}")


@pytest.fixture(scope="module")
def gradcheck_db(tmp_path_factory):
    """A gradcheck sweep: init randn and kaiming-normal x two activations x three losses;
    with randn, nll-naive's loss (and so its gradients) is NaN, nll-logsumexp's finite."""
    url = f"sqlite:///{tmp_path_factory.mktemp('checks') / 'runs.db'}"
    started = datetime(2024, 5, 1, tzinfo=UTC)
    with open_store(url) as store:
        sweep = store.create_sweep("checks", ["runner", "sweep"], {}, {})
        planned = [
            PlannedRun(
                key=f"{i}-{a}-{loss_name}",
                experiment="gradcheck",
                components={"init": i, "activation": a, "loss": loss_name},
                params={"batch": 10},
            )
            for i in ("randn", "kaiming-normal")
            for a in ACTIVATIONS
            for loss_name in LOSSES
        ]
        ids = store.add_runs(sweep, planned)
        for run in planned:
            overflow = run.components["init"] == "randn" and run.components["loss"] == "nll-naive"
            error = math.nan if overflow else 1e-7
            metrics = [
                MetricRecord(f"{t}.max_rel_err", error) for t in ("x", "w1", "b1", "w2", "b2")
            ]
            metrics += [
                MetricRecord("passed", 0.0 if overflow else 1.0),
                MetricRecord("loss", math.nan if overflow else 2.3),
            ]
            store.write_result(
                ids[run.key],
                RunResult("done", None, started, started + timedelta(seconds=1), metrics=metrics),
            )
        store.finish_sweep(sweep, "done")
    return url


def test_checks_page_grids_gradcheck_and_shows_the_overflow(gradcheck_db, monkeypatch):
    at = _open(gradcheck_db, "checks", monkeypatch)
    assert at.get("vega_lite_chart")  # the heatmap
    grid = _table(at, "verdict").to_dict("records")
    verdicts = {(d["init"], d["activation"], d["loss"]): d["verdict"] for d in grid}
    assert verdicts[("randn", "relu", "nll-naive")] == "NaN"
    assert verdicts[("randn", "relu", "nll-logsumexp")] == "pass"
    assert sum(v == "pass" for v in verdicts.values()) == 10
    overflow = _table(at, "nll-naive").set_index(["init", "activation"])
    assert overflow.loc[("randn", "relu"), "nll-naive"] == "NaN"
    assert overflow.loc[("randn", "relu"), "nll-logsumexp"] == "2.3"
    assert list(overflow.columns[:2]) == ["nll-naive", "nll-logsumexp"]
    assert any("do not pass" in w.value for w in at.warning)


def test_run_page_has_what_runner_show_has_and_its_charts(sample_db, monkeypatch, samples):
    run_id = sample_db.train_runs[0]
    at = _open(sample_db.url, "run", monkeypatch, {"run.id": str(run_id)})
    assert samples.as_shown(at.subheader[0].value) == f"#{run_id} train · done"
    fields = dict(zip(*_table(at, "field")[["field", "value"]].T.values))
    assert fields["sweep_id"] == str(sample_db.train_sweep) and fields["experiment"] == "train"
    assert (
        dict(zip(*_table(at, "category")[["category", "component"]].T.values))["init"]
        == "kaiming-normal"
    )
    assert dict(zip(*_table(at, "param")[["param", "value"]].T.values))["lr"] == "0.1"
    metrics = dict(zip(*_table(at, "metric")[["metric", "value"]].T.values))
    assert metrics["valid_accuracy"] == pytest.approx(0.90)
    titles = [str(json.loads(c.proto.spec).get("title")) for c in at.get("vega_lite_chart")]
    assert any("std per layer" in t for t in titles) and any(
        t.startswith("train_loss") for t in titles
    )
    assert any(t.startswith("valid_loss") for t in titles)


def test_run_page_shows_timings_with_every_replicate(sample_db, monkeypatch, samples):
    run_id = sample_db.matmul_runs["einsum"]
    at = _open(sample_db.url, "run", monkeypatch, {"run.id": str(run_id)})
    columns = list(_table(at, "label").columns)
    assert "flag" in columns
    units = {c.split("(")[1] for c in columns if c.startswith(("median (", "iqr (", "min ("))}
    assert len(units) == 1  # one unit for the whole table
    spec = json.loads(at.get("vega_lite_chart")[-1].proto.spec)
    assert "replicates" in str(spec.get("title"))
    timings = samples.timing_frames()
    chart = run_views.replicate_chart(
        timings[0][timings[0]["run_id"] == 1].assign(quality="ok"), timings[1]
    )
    dots = [d for d in chart.to_dict()["datasets"].values() if d and "replicate" in d[0]]
    assert (
        len(dots[0]) == 2 * samples.N_REPLICATES
    )  # every replicate of both shapes, not only the median


def test_a_run_that_is_not_there_is_one_line(sample_db, monkeypatch):
    at = _open(sample_db.url, "run", monkeypatch, {"run.id": "987654"})
    assert [w.value for w in at.warning] == ["There is no run 987654 in this database."]


def test_runs_page_is_newest_first_with_metric_columns_and_links(sample_db, monkeypatch):
    at = _open(sample_db.url, "runs", monkeypatch, {"runs.experiment": "train"})
    runs = _table(at, "run_id")
    assert list(runs["run_id"]) == sorted(runs["run_id"], reverse=True)
    assert {"valid_accuracy", "samples_per_s"} <= set(runs.columns)
    assert runs["open"].iloc[0] == f"run?run.id={runs['run_id'].iloc[0]}"
    at = _open(
        sample_db.url,
        "runs",
        monkeypatch,
        {"where": "valid_accuracy>=0.95", "runs.sort": "valid_accuracy"},
    )
    runs = _table(at, "run_id")
    assert list(runs["valid_accuracy"]) == sorted(runs["valid_accuracy"], reverse=True)
    assert len(runs) == 3 and (runs["valid_accuracy"] >= 0.95).all()


def test_runs_page_sorted_by_duration_shows_the_duration_once(sample_db, monkeypatch):
    # sorting by duration_s put it in the focus and beside the duration column: the
    # page's table had two columns of one name and the page failed
    at = _open(
        sample_db.url, "runs", monkeypatch, {"runs.experiment": "train", "runs.sort": "duration_s"}
    )
    runs = _table(at, "run_id")
    assert list(runs.columns).count("duration_s") == 1


def test_compare_page_draws_metrics_and_curves(sample_db, monkeypatch):
    first, fourth = sample_db.train_runs[0], sample_db.train_runs[3]
    at = _open(sample_db.url, "compare", monkeypatch, {"compare.runs": f"{first},{fourth}"})
    titles = [str(json.loads(c.proto.spec).get("title")) for c in at.get("vega_lite_chart")]
    assert any("final metrics" in t for t in titles) and any(
        t.startswith("train_loss") for t in titles
    )


def test_the_data_version_changes_when_a_result_is_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with open_store(url) as store:
        sweep = store.create_sweep("live", ["runner"], {}, {})
        ids = store.add_runs(
            sweep, [PlannedRun(key="a", experiment="train", components={}, params={})]
        )
        before = summaries.data_version(store)
        assert summaries.running_sweeps(before) == 1
        started = datetime(2024, 5, 1, tzinfo=UTC)
        store.write_result(
            ids["a"], RunResult("done", None, started, started + timedelta(seconds=1))
        )
        after = summaries.data_version(store)
        assert after != before
        store.finish_sweep(sweep, "done")
        assert summaries.running_sweeps(summaries.data_version(store)) == 0


def test_a_running_sweep_makes_the_page_live_and_new_rows_show(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    started = datetime(2024, 5, 1, tzinfo=UTC)
    with open_store(url) as store:
        sweep = store.create_sweep("live", ["runner", "sweep"], {}, {})
        ids = store.add_runs(
            sweep, [PlannedRun(key=k, experiment="train", components={}, params={}) for k in "ab"]
        )
        store.write_result(
            ids["a"], RunResult("done", None, started, started + timedelta(seconds=1))
        )
    at = _open(url, "runs", monkeypatch)
    assert any("live" in c.value for c in at.sidebar.caption)
    assert sorted(_table(at, "run_id")["status"]) == ["done", "pending"]
    with open_store(url) as store:  # the sweep writes its next result while the page is open
        store.write_result(
            ids["b"], RunResult("done", None, started, started + timedelta(seconds=2))
        )
    at.run()  # what the live fragment triggers when the data version changes
    assert sorted(_table(at, "run_id")["status"]) == [
        "done",
        "done",
    ]  # the query cache did not hide it


def _colour_scales(spec) -> list[dict]:
    """Every colour encoding's scale in a Vega-Lite spec (layers and facets included)."""
    found = []
    if isinstance(spec, dict):
        colour = (spec.get("encoding") or {}).get("color")
        if isinstance(colour, dict) and "field" in colour:
            found.append(colour.get("scale") or {})
        for value in spec.values():
            found += _colour_scales(value)
    elif isinstance(spec, list):
        for value in spec:
            found += _colour_scales(value)
    return found


def test_compare_gives_each_run_one_name_and_one_colour_everywhere(sample_db, monkeypatch):
    """Issue 24 item 15: a run had one colour in the bars and another in the curves, and
    was called only "#91"; now its name says what differs and its colour is the same."""
    lr_low, lr_high = sample_db.train_runs[0], sample_db.train_runs[3]
    chosen = [lr_high, sample_db.failed_run, lr_low]
    at = _open(sample_db.url, "compare", monkeypatch, {"compare.runs": ",".join(map(str, chosen))})
    names = {
        lr_high: f"#{lr_high} kaiming-normal · lr=0.5",
        sample_db.failed_run: f"#{sample_db.failed_run} randn · lr=5.0",
        lr_low: f"#{lr_low} kaiming-normal · lr=0.1",
    }
    metrics = _table(at, "metric")
    assert [c for c in metrics.columns if c != "metric"] == [names[r] for r in chosen]
    charts = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    scales = [s for spec in charts for s in _colour_scales(spec)]
    assert len(charts) >= 2 and scales
    for scale in scales:  # bars, curve lines and bands: one domain, one range
        assert scale.get("domain") == [names[r] for r in chosen], scale
        assert scale.get("range") == scales[0]["range"]


def test_activations_run_picker_names_runs_and_opens_on_the_best_trained(sample_db, monkeypatch):
    """Issue 24 item 14: the during-training picker listed bare ids and opened on the
    first; now runs are named by what differs and it opens on the best-trained run."""
    at = _open(sample_db.url, "activations", monkeypatch, {"sweep": str(sample_db.train_sweep)})
    picker = at.selectbox(key="activations.run")
    best = sample_db.train_runs[-1]  # lr 0.5, third repeat: valid accuracy 0.97
    assert picker.value == best
    assert f"#{best} lr=0.5" in picker.options
    assert f"#{sample_db.train_runs[0]} lr=0.1" in picker.options
