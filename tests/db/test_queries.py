"""The read queries: filters, paging, ordering, pivots and downsampling, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult, StatRecord, TimingRecord
from scratchlab.db import InvalidValueError, open_store, queries
from scratchlab.db.filters import FilterError, RunFilter, parse_where

T0 = datetime(2026, 3, 1, tzinfo=UTC)
#: (key, experiment, matmul, lr, status, seconds it took)
RUNS = [
    ("a", "train", "torch", 0.1, "done", 3.0),
    ("b", "train", "einsum", 0.5, "done", 1.0),
    ("c", "train", "python", 1.0, "failed", 2.0),
    ("d", "matmul", "torch", None, "done", 5.0),
    ("e", "matmul", "einsum", None, "skipped", 0.5),
    ("f", "matmul", "python", None, "pending", None),
]


def _planned(key, experiment, matmul, lr):
    params = (
        {"shapes": ["5x784x10"], "exact": True}
        if lr is None
        else {"lr": lr, "bs": 64, "exact": lr < 1}
    )
    return PlannedRun(
        key, experiment, {"matmul": matmul}, params, component_versions={"matmul": "1.0"}
    )


def _result(index, status, seconds):
    started = T0 + timedelta(minutes=index)
    return RunResult(
        status,
        reason="boom" if status == "failed" else None,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        timings=[
            TimingRecord(
                "mm",
                [1e-3, 2e-3],
                1e-3 * (index + 1),
                0.0,
                1e-3,
                1e-3,
                2e-3,
                flops=2e6,
                shape="5x784x10",
            )
        ],
        stats=[
            StatRecord(
                "deep",
                layer,
                f"linear{layer}",
                0.0,
                1.0,
                -1.0,
                1.0,
                0.5,
                1.0 if (step == 2 and layer >= 3) else 0.0,
                step=step,
            )
            for step in (0, 1, 2)
            for layer in range(5)
        ]
        + [StatRecord("mlp", 0, "linear0", 0.0, 1.0, -1.0, 1.0, 0.5, 0.0)],
        metrics=[MetricRecord("train_loss", 1.0 / (step + 1), step) for step in range(1000)]
        + [MetricRecord("valid_acc", 0.5 + step / 10, step) for step in range(3)]
        + [MetricRecord("gflops", 7.0 + index, None)],
    )


def _fill(store) -> None:
    """Sweep 1 with :data:`RUNS` and their results, sweep 2 with one pending run ``z``."""
    first = store.create_sweep("first", ["runner", "sweep", "--plugins", "matmul"], {}, {})
    ids = store.add_runs(first, [_planned(*run[:4]) for run in RUNS])
    for index, (key, *_, status, seconds) in enumerate(RUNS):
        if seconds is not None:
            store.write_result(ids[key], _result(index, status, seconds))
    store.finish_sweep(first, "failed")
    second = store.create_sweep("second", ["runner", "sweep"], {}, {})
    store.add_runs(second, [_planned("z", "train", "torch", 2.0)])


@pytest.fixture(scope="module")
def store(module_db_url):
    """The sample sweeps, written once per module and backend: the tests that only read them
    share them (a test that writes takes :func:`own_store`)."""
    with open_store(module_db_url) as opened:
        _fill(opened)
        yield opened


@pytest.fixture
def own_store(db_url):
    """The sample sweeps in a database of the test's own, for a test that adds to them."""
    with open_store(db_url) as opened:
        _fill(opened)
        yield opened


def keys(frame) -> list[str]:
    return list(frame["key"])


def test_list_sweeps_counts_runs_per_status(store):
    sweeps = queries.list_sweeps(store)
    assert list(sweeps.columns) == [
        "sweep_id",
        "name",
        "status",
        "started_at",
        "finished_at",
        "duration_s",
        "argv",
        "n_runs",
        "pending",
        "running",
        "done",
        "failed",
        "skipped",
        "timeout",
        "interrupted",
        "pruned",
    ]
    first, second = sweeps.iloc[0], sweeps.iloc[1]
    assert (first["name"], first["status"], first["n_runs"]) == ("first", "failed", 6)
    assert (
        first["done"],
        first["failed"],
        first["skipped"],
        first["pending"],
        first["running"],
    ) == (3, 1, 1, 1, 0)
    assert first["argv"] == "runner sweep --plugins matmul"
    assert first["duration_s"] >= 0
    assert (second["n_runs"], second["pending"], second["status"]) == (1, 1, "running")
    assert math.isnan(second["duration_s"])


def test_filters_by_sweep_status_experiment(store):
    assert keys(queries.list_runs(store, sweep_ids=[1])) == list("abcdef")
    assert keys(queries.list_runs(store, statuses=["done"])) == ["a", "b", "d"]
    assert keys(queries.list_runs(store, statuses="failed")) == ["c"]
    assert keys(queries.list_runs(store, experiments=["matmul"], statuses=["done", "skipped"])) == [
        "d",
        "e",
    ]
    assert keys(queries.list_runs(store, sweep_ids=[2])) == ["z"]
    with pytest.raises(InvalidValueError, match="unknown run status finished"):
        queries.list_runs(store, statuses=["finished"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"lr": 0.5}, ["b"]),
        ({"lr": 1}, ["c"]),  # an int matches the stored float 1.0
        ({"lr": (0.2, None)}, ["b", "c", "z"]),
        ({"lr": (None, 0.5)}, ["a", "b"]),
        ({"lr": (0.1, 1.0)}, ["a", "b", "c"]),  # inclusive at both ends
        ({"lr": [0.1, 2.0]}, ["a", "z"]),
        ({"matmul": "torch"}, ["a", "d", "z"]),
        ({"matmul": ["einsum", "python"]}, ["b", "c", "e", "f"]),
        ({"matmul": "torch", "lr": (0.0, None)}, ["a", "z"]),
        ({"exact": True}, ["a", "b", "d", "e", "f"]),
        ({"exact": (1, 1)}, []),  # bools are not numbers to a range
        ({"lr": "0.5"}, ["b"]),  # text typed on a command line matches the stored number's text
        ({"shapes": ["5x784x10"]}, []),  # a list means any-of, not a JSON list
        ({"missing": 1}, []),
    ],
)
def test_param_filters(store, params, expected):
    assert keys(queries.list_runs(store, params=params)) == expected
    assert queries.count_runs(store, params=params) == len(expected)


def test_a_param_named_like_a_run_column_keeps_both(own_store):
    store = own_store
    store.add_runs(
        2, [PlannedRun("y", "train", {"matmul": "torch"}, {"device": "mine", "status": 3})]
    )
    run = queries.list_runs(store, sweep_ids=[2]).set_index("key").loc["y"]
    assert (run["device"], run["device_param"]) == ("cpu", "mine")
    assert (run["status"], run["status_param"]) == ("pending", 3)


def test_params_are_pivoted_to_columns_with_their_types(store):
    runs = queries.list_runs(store, sweep_ids=[1]).set_index("key")
    assert (
        runs["lr"].dtype == "float64"
        and runs.loc["b", "lr"] == 0.5
        and math.isnan(runs.loc["d", "lr"])
    )
    assert runs.loc["a", "bs"] == 64
    assert runs.loc["d", "shapes"] == ["5x784x10"]
    assert runs.loc["a", "matmul"] == "torch"
    assert runs.loc["c", "reason"] == "boom"
    assert runs.loc["b", "duration_s"] == pytest.approx(1.0)


def test_paging_and_ordering(store):
    assert keys(queries.list_runs(store, limit=2)) == ["a", "b"]
    assert keys(queries.list_runs(store, limit=2, offset=2)) == ["c", "d"]
    assert keys(queries.list_runs(store, order_by="run_id", descending=True, limit=3)) == [
        "z",
        "f",
        "e",
    ]
    assert keys(
        queries.list_runs(
            store,
            order_by="lr",
            descending=True,
            statuses=["done", "failed", "pending"],
            experiments=["train"],
        )
    ) == ["z", "c", "b", "a"]
    assert keys(
        queries.list_runs(store, order_by="duration_s", descending=True, statuses=["done"])
    ) == ["d", "a", "b"]
    assert keys(queries.list_runs(store, order_by="matmul", experiments=["matmul"])) == [
        "e",
        "f",
        "d",
    ]
    with pytest.raises(InvalidValueError, match="cannot order runs by 'nonsense'"):
        queries.list_runs(store, order_by="nonsense")


def test_timings_carry_their_run_and_components(store):
    timings = queries.timings(store, sweep_ids=[1])
    assert len(timings) == 5 and set(timings["matmul"]) == {"torch", "einsum", "python"}
    assert list(timings.columns[:19]) == [
        "timing_id",
        "run_id",
        "sweep_id",
        "experiment",
        "device",
        "label",
        "shape",
        "n",
        "median",
        "iqr",
        "mean",
        "min",
        "max",
        "flops",
        "threads",
        "number_per_run",
        "quality",
        "quality_json",
        "gflops",
    ]
    first = timings.iloc[0]
    assert first["gflops"] == pytest.approx(2e6 / 1e-3 / 1e9) and first["n"] == 2
    assert len(queries.timing_replicates(store, list(timings["timing_id"]))) == 10


def test_activation_stats_final_only_keeps_the_last_step_of_each_model(store):
    everything = queries.activation_stats(store, run_ids=[1])
    assert len(everything) == 16
    final = queries.activation_stats(store, run_ids=[1], final_only=True)
    assert len(final) == 6
    deep = final[final["model"] == "deep"]
    assert set(deep["step"]) == {2} and list(deep["frac_nonfinite"]) == [0, 0, 0, 1, 1]
    assert final[final["model"] == "mlp"]["step"].isna().all()
    assert set(queries.activation_stats(store, sweep_ids=[1], models=["mlp"])["model"]) == {"mlp"}
    summary = queries.run_summary(store, 1)
    assert summary["first_nonfinite"] == {"deep": "linear3", "mlp": None}


@pytest.mark.parametrize("max_points", [2, 7, 100])
def test_metrics_downsample_in_sql_keeping_first_and_last(store, max_points):
    history = queries.metrics(store, run_ids=[1, 2], names=["train_loss"], max_points=max_points)
    for run_id in (1, 2):
        series = history[history["run_id"] == run_id]
        assert 2 <= len(series) <= max_points
        steps = list(series["step"])
        assert steps[0] == 0 and steps[-1] == 999 and steps == sorted(steps)
        gaps = {b - a for a, b in itertools.pairwise(steps)}
        assert max(gaps) - min(gaps) <= 1 or len(steps) == 2  # evenly spaced
    short = queries.metrics(store, run_ids=[1], names=["valid_acc"], max_points=7)
    assert list(short["step"]) == [0, 1, 2]  # a series shorter than max_points comes back whole
    with pytest.raises(InvalidValueError):
        queries.metrics(store, run_ids=[1], max_points=1)


def test_final_metrics(store):
    final = queries.final_metrics(store, run_ids=[1]).set_index("name")["value"].to_dict()
    assert final == {"gflops": 7.0, "train_loss": 1.0 / 1000, "valid_acc": pytest.approx(0.7)}
    assert len(queries.final_metrics(store, sweep_ids=[1])) == 5 * 3


def test_run_summary_holds_everything_about_one_run(store):
    summary = queries.run_summary(store, 3)
    assert (summary["key"], summary["status"], summary["reason"], summary["sweep_name"]) == (
        "c",
        "failed",
        "boom",
        "first",
    )
    assert summary["components"] == {"matmul": "python"} and summary["component_versions"] == {
        "matmul": "1.0"
    }
    assert summary["params"] == {"lr": 1.0, "bs": 64, "exact": False}
    assert summary["duration_s"] == pytest.approx(2.0)
    assert len(summary["timings"]) == 1 and summary["metrics"]["gflops"] == 9.0


def test_huge_id_lists_do_not_hit_parameter_limits(store):
    many = list(range(1, 40_001))
    assert len(queries.final_metrics(store, run_ids=many)) == 5 * 3
    assert len(queries.metrics(store, run_ids=many, names=["valid_acc"])) == 15


def test_planned_runs_give_back_what_was_planned(tmp_path):
    """Runs stored with add_runs come back as equal PlannedRun records, in the order asked."""
    from scratchlab.core.records import PlannedRun
    from scratchlab.db import open_store
    from scratchlab.db.errors import RunNotFoundError
    from scratchlab.db.queries import planned_runs

    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    planned = [
        PlannedRun(
            key=f"k{i}",
            experiment="train",
            components={"matmul": "torch", "activation": "leaky-relu"},
            params={
                "lr": 0.1 * (i + 1),
                "shuffle": i % 2 == 0,
                "leaky-relu.slope": 0.0,
                "shapes": "5x784x10",
            },
            device="cpu",
            dtype="float64",
            seed=i,
            repeat=i,
            component_versions={"matmul": "0.1.0+aaaa", "activation": "0.1.0+bbbb"},
        )
        for i in range(3)
    ]
    sweep_id = store.create_sweep("s", ["runner"], {}, {})
    ids = store.add_runs(sweep_id, planned)
    wanted = [ids["k2"], ids["k0"]]
    assert planned_runs(store, wanted) == [planned[2], planned[0]]
    with pytest.raises(RunNotFoundError, match="no run 999"):
        planned_runs(store, [ids["k1"], 999])
    store.close()


# -- the one run filter ----------------------------------------------------------


def test_a_final_metric_filters_and_sorts_runs_in_sql(store):
    """gflops is recorded once per run without a step (7 + the run's index)."""
    flt = parse_where(["gflops>=9"])
    assert keys(queries.list_runs(store, flt)) == ["c", "d", "e"]
    assert queries.count_runs(store, flt) == 3
    ordered = queries.list_runs(store, order_by="gflops", descending=True)
    assert keys(ordered) == ["e", "d", "c", "b", "a", "z", "f"]  # runs without the metric last
    # sorting by the metric a filter names joins it: same rows, same order
    assert keys(
        queries.list_runs(
            store,
            parse_where(["gflops>=8", "status=done,skipped"]),
            order_by="gflops",
            descending=True,
        )
    ) == ["e", "d", "b"]
    assert keys(
        queries.list_runs(store, parse_where(["gflops>=8"]), order_by="gflops", limit=2, offset=1)
    ) == ["c", "d"]
    assert keys(queries.list_runs(store, parse_where(["gflops<8"]))) == ["a"]
    assert keys(queries.list_runs(store, RunFilter(metrics={"gflops": (8, 9)}))) == ["b", "c"]
    # != keeps runs that never recorded the metric
    assert keys(queries.list_runs(store, parse_where(["gflops!=7,8,9,10"]))) == ["e", "f", "z"]
    # the count agrees with the listing when the metric comes with other conditions
    for where in (
        ["gflops>=8", "status=done,skipped"],
        ["gflops>=8", "gflops<10"],
        ["gflops>=9", "key!=d"],
    ):
        flt = parse_where(where)
        assert queries.count_runs(store, flt) == len(queries.list_runs(store, flt)), where
    assert queries.count_runs(store, parse_where(["gflops>=8"]), sweep_ids=[2]) == 0


def test_final_value_is_the_highest_step_and_a_stepless_value_counts_as_final(own_store):
    store = own_store
    z = int(queries.list_runs(store, sweep_ids=[2])["run_id"][0])
    store.write_result(
        z,
        RunResult(
            "done",
            started_at=T0,
            finished_at=T0 + timedelta(seconds=1),
            metrics=[
                MetricRecord("acc", 0.1, 0),
                MetricRecord("acc", 0.95, None),
                MetricRecord("acc", 0.2, 5),
                MetricRecord("loss", 0.3, 2),
                MetricRecord("loss", 0.4, 2),  # same step: the last written wins
            ],
        ),
    )
    final = queries.final_metrics(store, run_ids=[z]).set_index("name")["value"]
    assert final.to_dict() == {"acc": 0.95, "loss": 0.4}
    assert keys(queries.list_runs(store, parse_where(["acc>0.9"]))) == ["z"]
    assert keys(queries.list_runs(store, parse_where(["loss>=0.4", "loss<=0.4"]))) == ["z"]


def test_list_runs_gives_final_metrics_as_columns(store):
    rows = queries.list_runs(store, parse_where(["experiment=train"]), with_metrics=True).set_index(
        "key"
    )
    assert rows.loc["a", "valid_acc"] == pytest.approx(0.7)
    assert rows.loc["b", "gflops"] == 8.0 and rows.loc["a", "train_loss"] == pytest.approx(1e-3)
    assert math.isnan(rows.loc["z", "gflops"])  # pending: no metrics yet
    only = queries.list_runs(store, RunFilter(run_ids=(1,)), with_metrics=["gflops"])
    assert list(only.columns[-2:]) == ["exact", "gflops"]


def test_where_names_resolve_to_columns_categories_params_and_metrics(store):
    assert keys(
        queries.list_runs(store, parse_where(["matmul=torch,einsum", "status!=skipped"]))
    ) == ["a", "b", "d", "z"]
    assert keys(queries.list_runs(store, parse_where(["lr<0.5"]))) == ["a"]
    assert keys(queries.list_runs(store, parse_where(["train.lr>0.5"]))) == ["c", "z"]
    assert keys(queries.list_runs(store, parse_where(["seed=0", "sweep_id=2"]))) == ["z"]
    assert keys(queries.list_runs(store, parse_where(["duration_s>2.5"]))) == ["a", "d"]
    assert keys(queries.list_runs(store, parse_where(["matmul!=torch", "experiment=matmul"]))) == [
        "e",
        "f",
    ]
    with pytest.raises(
        FilterError,
        match="no run has a param, component category or final metric named 'optimizer'",
    ):
        queries.list_runs(store, parse_where(["optimizer=adam"]))
    with pytest.raises(FilterError, match="final metric values are numbers"):
        queries.count_runs(store, parse_where(["gflops=fast"]))


def test_every_read_query_takes_the_filter(store):
    flt = parse_where(["matmul=torch", "status=done"])  # runs a and d
    ids = {int(i) for i in queries.list_runs(store, flt)["run_id"]}
    assert len(ids) == 2
    assert set(queries.timings(store, flt)["run_id"]) == ids
    assert set(queries.activation_stats(store, flt)["run_id"]) == ids
    assert set(queries.metrics(store, flt, names="valid_acc")["run_id"]) == ids
    assert set(queries.final_metrics(store, flt)["run_id"]) == ids
    versions = queries.component_versions(store, flt)
    assert set(versions["run_id"]) == ids and set(versions["component"]) >= {"torch"}
    assert queries.count_runs(store, RunFilter(run_ids=())) == 0  # an empty id list keeps no run
