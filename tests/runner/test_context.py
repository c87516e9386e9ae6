"""The run context and run_experiment: statuses, budget, set-up errors, seeding,
data, and the three recorders (timing, stats/watch, metric).

Throwaway experiments are registered through a real plugin module written by
the ``plugin_path`` fixture and loaded with ``load_plugins(modules=...)``, the
way a third party's would be.
"""

from __future__ import annotations

import math
import signal
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.manager import load_plugins
from scratchlab.plugins.stats import RecordBuffer, stat_vector
from scratchlab.runner import context as context_mod
from scratchlab.runner import rundata
from scratchlab.runner.budget import BudgetExceeded
from scratchlab.runner.context import RunContext, run_experiment
from scratchlab.runner.timing import DEFAULT_MIN_REPLICATES, measure, quantile, summarise

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROBE_PLUGIN = """
import time
from scratchlab.plugins import Experiment, Skip, hookimpl

SEEN = {}

def record_everything(ctx):
    import torch
    SEEN["ctx"] = ctx
    SEEN["draw"] = torch.rand(3).tolist()
    ctx.metric("plain", 2.5)
    ctx.metric("lazy", torch.tensor(1.5), step=3)
    ctx.stats("probe", 1, "ramp", torch.arange(4.0))
    ctx.timing("add", lambda: torch.ones(8) + 1, shape=(1, 8), flops=8, min_run_time=0.01)
    if ctx.params["mode"] == "skip":
        raise Skip("nothing to do here")
    if ctx.params["mode"] == "fail":
        raise RuntimeError("boom in the experiment")
    if ctx.params["mode"] == "sleep":
        time.sleep(30)
    if ctx.params["mode"] == "loop":
        while True:
            ctx.check_budget()
            time.sleep(0.01)

@hookimpl
def register_experiments(register):
    register(Experiment(name="probe", run=record_everything, uses=("activation",),
                        params={"mode": "ok", "scale": 1.0}))
"""


@pytest.fixture
def probe(plugin_path):
    """The plugins with the ``probe`` experiment added, and a runner for it."""
    plugin_path(modules={"probe_plugin": PROBE_PLUGIN})
    plugins = load_plugins(modules=["probe_plugin"], strict=True, disabled=())
    import probe_plugin

    def go(mode="ok", *, timeout=None, components=None, extra=None, **fields):
        params = {"mode": mode, "scale": 1.0, "leaky-relu.slope": 0.2, **(extra or {})}
        planned = PlannedRun(
            key="probe",
            experiment="probe",
            components={"activation": "leaky-relu"} if components is None else components,
            params=params,
            **fields,
        )
        return run_experiment(plugins, planned, timeout=timeout)

    go.seen = probe_plugin.SEEN
    return go


# ----------------------------------------------------------------- statuses


def test_done_run_carries_every_record_as_plain_numbers(probe):
    result = probe("ok")
    assert result.status == "done", result.reason
    assert result.reason is None
    assert result.started_at <= result.finished_at
    assert result.started_at.tzinfo is not None  # UTC-aware
    assert [(m.name, m.value, m.step) for m in result.metrics] == [
        ("plain", 2.5, None),
        ("lazy", 1.5, 3),
    ]
    assert all(type(m.value) is float for m in result.metrics)
    (stat,) = result.stats
    assert (stat.model, stat.layer, stat.name) == ("probe", 1, "ramp")
    assert stat.mean == pytest.approx(1.5) and stat.max == 3.0 and stat.frac_zero == 0.25
    (timing,) = result.timings
    assert timing.label == "add" and timing.shape == "1x8" and timing.flops == 8.0


def test_skip_keeps_reason_and_records(probe):
    result = probe("skip")
    assert result.status == "skipped"
    assert result.reason == "nothing to do here"
    assert len(result.metrics) == 2 and len(result.timings) == 1


def test_exception_is_failed_with_traceback_and_partial_records(probe):
    result = probe("fail")
    assert result.status == "failed"
    assert "Traceback (most recent call last)" in result.reason
    assert "RuntimeError: boom in the experiment" in result.reason
    assert "record_everything" in result.reason  # the experiment's frame is in it
    assert len(result.metrics) == 2 and len(result.stats) == 1


def test_check_budget_stops_a_loop_and_keeps_records(probe):
    started = time.monotonic()
    result = probe("loop", timeout=0.5)
    assert result.status == "timeout"
    assert "time budget of 0.5 s exceeded" in result.reason
    assert time.monotonic() - started < 5
    assert [m.name for m in result.metrics] == ["plain", "lazy"]


def test_alarm_stops_a_run_that_never_checks_and_restores_the_old_handler(probe):
    def previous(_signum, _frame):
        raise AssertionError("the previous handler must not fire during the run")

    old = signal.signal(signal.SIGALRM, previous)
    outer_timer = signal.getitimer(signal.ITIMER_REAL)[0]  # pytest-timeout's, or 0
    try:
        started = time.monotonic()
        result = probe("sleep", timeout=0.5)
        elapsed = time.monotonic() - started
        assert result.status == "timeout", result.reason
        assert elapsed < 5, "a sleeping run must be interrupted, not waited for"
        assert signal.getsignal(signal.SIGALRM) is previous
        # our 0.5 s timer is gone; an outer one is back with what it had left
        assert signal.getitimer(signal.ITIMER_REAL)[0] == pytest.approx(
            max(outer_timer - elapsed, 0), abs=0.5
        )
    finally:
        signal.signal(signal.SIGALRM, old)


def test_a_previous_timer_keeps_running_after_the_run(probe):
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *_: fired.append(True))
    signal.setitimer(signal.ITIMER_REAL, 30.0)
    try:
        assert probe("ok", timeout=5).status == "done"
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        assert 20 < remaining <= 30, "the outer timer (e.g. pytest-timeout) must be re-armed"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert not fired


def test_outside_the_main_thread_only_check_budget_stops_the_run(probe):
    results = []
    worker = threading.Thread(target=lambda: results.append(probe("loop", timeout=0.3)))
    worker.start()
    worker.join(10)
    assert not worker.is_alive()
    assert results[0].status == "timeout"


# ------------------------------------------------------------ set-up errors


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_clear_failure(probe):
    result = probe("ok", device="cuda")
    assert result.status == "failed"
    assert "CUDA is not available" in result.reason
    assert "Traceback" not in result.reason
    assert not result.metrics  # nothing ran


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"dtype": "int64"}, "not a floating-point torch dtype"),
        ({"dtype": "float33"}, "not a floating-point torch dtype"),
        ({"device": "warp-drive"}, "unknown device 'warp-drive'"),
        ({"components": {"activation": "no-such"}}, "unknown activation 'no-such'; valid: relu"),
        ({"components": {}}, "uses activation but the run names no component for it"),
        ({"extra": {"leaky-relu.bogus": 1}}, "leaky-relu has no param bogus"),
        ({"extra": {"bogus": 1}}, "unknown param 'bogus' for experiment 'probe'"),
    ],
)
def test_setup_errors_fail_with_one_line(probe, fields, message):
    result = probe("ok", **fields)
    assert result.status == "failed"
    assert message in result.reason
    assert "\n" not in result.reason


def test_unknown_experiment_fails_clearly(registry):
    planned = PlannedRun(key="k", experiment="nope", components={}, params={})
    result = run_experiment(registry, planned)
    assert result.status == "failed" and "unknown experiment 'nope'" in result.reason


def test_bad_timeout_is_the_callers_error(registry):
    with pytest.raises(ValueError, match="positive"):
        run_experiment(
            registry, PlannedRun(key="k", experiment="nope", components={}, params={}), timeout=0
        )


# ------------------------------------------------------------ the context


def test_context_binds_params_device_dtype_and_seed(probe):
    assert probe("ok", extra={"scale": 3}, dtype="float64", seed=7).status == "done"
    ctx: RunContext = probe.seen["ctx"]
    assert ctx.params == {"mode": "ok", "scale": 3.0}
    assert type(ctx.params["scale"]) is float  # an int for a float param is coerced
    assert ctx.device == torch.device("cpu") and ctx.dtype == torch.float64 and ctx.seed == 7
    # the bound activation has the run's slope, and its gain follows it
    assert ctx.activation.forward(torch.tensor([-1.0])).item() == pytest.approx(-0.2)
    assert ctx.activation.gain == pytest.approx(math.sqrt(2 / (1 + 0.2**2)))
    with pytest.raises(AttributeError, match="does not use 'loss'"):
        _ = ctx.loss


def test_seed_makes_runs_repeatable(probe):
    probe("ok", seed=3)
    first = probe.seen["draw"]
    probe("ok", seed=3)
    assert probe.seen["draw"] == first
    probe("ok", seed=4)
    assert probe.seen["draw"] != first


def test_data_is_cached_moved_and_does_not_disturb_the_rng(probe, monkeypatch):
    monkeypatch.setattr(rundata, "_DATA_CACHE", type(rundata._DATA_CACHE)())
    probe("ok", dtype="float64", seed=1)
    draw_before_any_load = probe.seen["draw"]
    data = probe.seen["ctx"].data  # the default dataset, mnist-5k: this one loads it
    assert data.x_train.dtype == torch.float64 and data.y_train.dtype == torch.int64
    assert data.x_train.shape == (4000, 784)
    assert len(rundata._DATA_CACHE) == 1
    probe("ok", dtype="float64", seed=1)
    again = probe.seen["ctx"].data
    assert len(rundata._DATA_CACHE) == 1  # loaded once per process
    assert torch.equal(again.x_valid, data.x_valid)
    assert probe.seen["draw"] == draw_before_any_load


# ---------------------------------------------------------------- recorders


def test_stat_vector_matches_numpy_with_zeros_and_non_finite_values():
    values = torch.tensor([[0.0, 1.0, -2.0], [4.0, 0.0, 3.5]])
    mean, std, lo, hi, frac_zero, frac_bad = stat_vector(values).tolist()
    reference = values.numpy().ravel()
    assert mean == pytest.approx(reference.mean())
    assert std == pytest.approx(reference.std(ddof=1))
    assert (lo, hi, frac_zero, frac_bad) == (-2.0, 4.0, pytest.approx(2 / 6), 0.0)
    blown = stat_vector(torch.tensor([1.0, float("inf"), float("nan"), 0.0])).tolist()
    assert math.isnan(blown[0]) and blown[4] == 0.25 and blown[5] == 0.5
    half = stat_vector(torch.full((10,), 300.0, dtype=torch.float16)).tolist()
    assert half[0] == 300.0  # summed in float32, no float16 overflow
    with pytest.raises(ValueError, match="empty"):
        stat_vector(torch.empty(0))


def test_buffer_reads_everything_back_in_one_transfer(monkeypatch):
    buffer = RecordBuffer()
    for step in range(5):
        buffer.add_stats("m", 1, "x", torch.randn(10) + step, step=step)
        buffer.add_metric("loss", torch.tensor(float(step)), step)
    calls = []
    real_tolist = torch.Tensor.tolist

    def counting_tolist(self):
        calls.append(self.shape)
        return real_tolist(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counting_tolist)
    metrics = buffer.metrics
    assert len(calls) == 1  # one .tolist() for all 35 numbers
    assert [m.value for m in metrics] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert [s.step for s in buffer.stats] == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="one value"):
        buffer.add_metric("bad", torch.ones(2))


def test_watch_records_each_child_and_removes_its_hooks():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    buffer = RecordBuffer()
    from scratchlab.plugins.stats import watch_children

    x = torch.randn(5, 4)
    with watch_children(buffer, model, "net", step=2):
        out = model(x)
    model(x)  # outside the block: nothing more is recorded
    records = buffer.stats
    assert [(r.layer, r.name, r.step) for r in records] == [(1, "0", 2), (2, "1", 2), (3, "2", 2)]
    relu_out = torch.relu(model[0](x))
    assert records[1].mean == pytest.approx(relu_out.mean().item())
    assert records[1].frac_zero == pytest.approx((relu_out == 0).float().mean().item())
    assert records[2].std == pytest.approx(out.std().item())
    assert not any(m._forward_hooks for m in model.children())


def test_summary_statistics_of_known_replicates():
    record = summarise("x", [4.0, 1.0, 3.0, 2.0, 100.0], shape=(2, 3, 4), flops=10, threads=1)
    assert record.median == 3.0 and record.min == 1.0 and record.max == 100.0
    assert record.iqr == pytest.approx(
        np.percentile([1, 2, 3, 4, 100], 75) - np.percentile([1, 2, 3, 4, 100], 25)
    )
    assert record.mean == pytest.approx(22.0)
    assert record.replicates == [4.0, 1.0, 3.0, 2.0, 100.0]  # kept in measured order
    assert record.shape == "2x3x4"
    assert quantile([1.0, 2.0], 0.5) == 1.5


def test_timing_a_fast_call_gives_many_replicates_and_the_threads():
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    record = measure("mm", lambda: a @ b, flops=2 * 64**3, min_run_time=0.05)
    # at least the minimum number of replicates however busy the machine (more when it is quiet)
    assert len(record.replicates) >= DEFAULT_MIN_REPLICATES
    assert record.min <= record.median <= record.max
    assert record.threads == torch.get_num_threads() == 1
    assert 1e-7 < record.median < 1e-2


def test_a_call_far_below_the_timer_resolution_is_timed_in_blocks_of_many_calls():
    # a no-op call is ~10,000x shorter than the smallest block blocked_autorange accepts, so a
    # block of one call is impossible even when other processes take the CPU in between
    # (the 64x64 matmul above can legitimately end up with one call per block on a busy machine)
    record = measure("noop", lambda: None, min_run_time=0.05)
    assert record.number_per_run > 1
    assert record.median < 1e-4


def test_timing_a_slow_call_is_capped():
    calls = []

    def slow():
        calls.append(1)
        time.sleep(0.3)

    started = time.monotonic()
    record = measure("slow", slow, min_run_time=0.05, max_run_time=1.0)
    elapsed = time.monotonic() - started
    assert record.median == pytest.approx(0.3, rel=0.3)
    assert record.number_per_run == 1
    # warm-up + blocked_autorange + top-ups until 1 s of measuring: a handful of calls, not hundreds
    assert 2 <= len(record.replicates) <= 3
    assert len(calls) <= 6 and elapsed < 3


def test_timing_checks_the_budget_between_blocks():
    budget = context_mod.Budget(0.2)
    with pytest.raises(BudgetExceeded):
        measure("spin", lambda: time.sleep(0.01), min_run_time=5.0, between_blocks=budget.check)
    assert budget.elapsed < 3


def test_an_experiment_without_data_needs_no_dataset_plugin():
    plugins = load_plugins(strict=True, disabled=("scratchlab.plugins.datasets",))
    planned = PlannedRun(
        key="k",
        experiment="matmul",
        components={"matmul": "torch"},
        params={"shapes": "4x4x4", "min_run_time": 0.01},
    )
    assert run_experiment(plugins, planned).status == "done"
    needs_data = PlannedRun(
        key="k",
        experiment="init-stats",
        components={"init": "simple", "activation": "relu"},
        params={"models": "mlp"},
    )
    result = run_experiment(plugins, needs_data)
    assert result.status == "failed" and "unknown dataset 'mnist-5k'" in result.reason
