"""``scratchlab.testing.run_components``: a plugin's components through the real engine."""

from __future__ import annotations

import importlib
import sys

import pytest

from scratchlab.db import open_store, queries
from scratchlab.plugins import Experiment, Matmul, hookimpl
from scratchlab.testing import PluginAuthoringWarning, PluginTestError, run_components

SHAPES = {"matmul.shapes": "8x16x4"}


class GoodPlugin:
    """A plugin written inside the test: one right matmul, one that raises."""

    @hookimpl
    def register_matmuls(register):
        register(Matmul(name="mine", fn=lambda a, b: a @ b, description="a @ b"))
        register(Matmul(name="broken", fn=lambda a, b: a.reshape(-1) @ b, description="raises"))


def test_runs_a_plugin_object_and_returns_what_was_stored():
    results = run_components(GoodPlugin, experiment="matmul", matmul="mine", settings=SHAPES)
    results.raise_for_failures()
    assert results.status == "done"
    assert results.runs[["experiment", "status", "matmul"]].values.tolist() == [
        ["matmul", "done", "mine"]
    ]
    assert results.metric("8x16x4.max_abs_err") < 1e-4
    assert results.timings["label"].tolist() == ["8x16x4"]
    assert results.db is None  # the temporary database is gone


def test_a_failing_component_is_a_failed_run_and_an_assertion_naming_it():
    results = run_components(
        GoodPlugin, experiment="matmul", matmul=["mine", "broken"], settings=SHAPES
    )
    assert sorted(results.runs["status"]) == ["done", "failed"]
    assert list(results.failures["matmul"]) == ["broken"]
    with pytest.raises(AssertionError, match=r"^run \d+ \(matmul\) failed: \S.*$") as raised:
        results.raise_for_failures()
    assert "\n" not in str(raised.value)


def test_settings_in_both_forms_and_a_kept_database(tmp_path):
    db = tmp_path / "kept.db"
    results = run_components(
        GoodPlugin,
        experiment="matmul",
        matmul="mine",
        settings={"matmul": {"shapes": "2x3x4"}},
        db=db,
    )
    assert results.db == f"sqlite:///{db}"
    with open_store(results.db) as store:
        assert queries.list_runs(store)["status"].tolist() == ["done"]
    assert results.metric("2x3x4.correct") == 1.0


def test_metric_of_several_runs_is_a_key_error_saying_how_many():
    results = run_components(
        GoodPlugin, experiment="matmul", matmul="mine", settings=SHAPES, repeat=2
    )
    with pytest.raises(KeyError, match=r"2 runs recorded metric '8x16x4.correct' \(one expected\)"):
        results.metric("8x16x4.correct")
    # as documented: read final_metrics, one row per run and metric
    finals = results.final_metrics[results.final_metrics["name"] == "8x16x4.correct"]
    assert finals["value"].tolist() == [1.0, 1.0]


def test_a_plugin_that_fails_to_load_is_one_clear_error():
    class Broken:
        @hookimpl
        def register_matmuls(register):
            raise RuntimeError("no BLAS here")

    with pytest.raises(PluginTestError, match=r"plugin 'test:.*Broken' failed: .*no BLAS here"):
        run_components(Broken, experiment="matmul", matmul="torch")


def test_a_name_that_cannot_be_planned_is_one_clear_error():
    with pytest.raises(PluginTestError, match="mistyped"):
        run_components(GoodPlugin, experiment="matmul", matmul="mistyped")
    with pytest.raises(PluginTestError, match=r"target\.param"):
        run_components(GoodPlugin, experiment="matmul", matmul="mine", settings={"shapes": "1x1x1"})


MODULE = """
from scratchlab.plugins import Experiment, hookimpl


def run(ctx):
    import os

    ctx.metric("pid", float(os.getpid()))
    ctx.metric("scale", ctx.params["scale"])


@hookimpl
def register_experiments(register):
    register(Experiment(name="pid", run=run, params={"scale": 1.0}, description="records its process id"))
"""


@pytest.mark.slow  # real worker processes or a served app: seconds each
def test_a_module_by_name_in_a_worker_process(tmp_path, monkeypatch):
    (tmp_path / "pidplugin.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the worker process imports it by name
    importlib.invalidate_caches()
    try:
        module = importlib.import_module("pidplugin")
        inline = run_components(module, experiment="pid", settings={"pid.scale": "2.5"})
        isolated = run_components("pidplugin", experiment="pid", isolated=True)
    finally:
        sys.modules.pop("pidplugin", None)
    assert (
        inline.metric("pid") == float(__import__("os").getpid()) and inline.metric("scale") == 2.5
    )
    isolated.raise_for_failures()
    assert isolated.metric("pid") != inline.metric("pid")


def test_an_object_cannot_run_isolated():
    with pytest.raises(PluginTestError, match="importable by name"):
        run_components(GoodPlugin, experiment="matmul", isolated=True)


def test_experiment_defined_inline_records_metrics_and_params_columns():
    class Tiny:
        @hookimpl
        def register_experiments(register):
            register(
                Experiment(
                    name="tiny",
                    run=lambda ctx: (
                        ctx.metric("loss", 0.5, step=0) or ctx.metric("loss", 0.25, step=1)
                    ),
                    params={"lr": 0.1},
                    description="two steps",
                )
            )

    results = run_components(Tiny, experiment="tiny", settings={"tiny.lr": "0.2"})
    assert results.metrics["value"].tolist() == [0.5, 0.25]
    assert results.metric("loss") == 0.25
    assert results.runs["lr"].tolist() == [0.2]


def test_an_authoring_mistake_is_a_warning_the_test_run_shows():
    class Mistyped:
        @hookimpl
        def register_matmul(register):  # no such hook: register_matmuls
            raise AssertionError("never called")

    with pytest.warns(PluginAuthoringWarning, match="register_matmuls"):
        run_components(Mistyped, experiment="matmul", matmul="torch", settings=SHAPES)
