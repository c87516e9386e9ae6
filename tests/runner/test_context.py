"""The run context an experiment receives: its bound components, params, device, dtype
and seed, data loaded once per process, and what it recorded turned into a result."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
import torch

from scratchlab.plugins.types import Component
from scratchlab.runner import rundata
from scratchlab.runner.budget import Budget
from scratchlab.runner.context import RunContext

# one torch thread, as the experiment fixtures use (tests/fixtures/experiments.py)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


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


def no_data() -> tuple[Component, str]:
    raise AssertionError("this test loads no data")


def bare_context(**components: Component) -> RunContext:
    """A context built by hand, as a test harness of a plugin might."""
    return RunContext(
        experiment="bare",
        components=components,
        params={"n": 1},
        device=torch.device("cpu"),
        dtype=torch.float32,
        seed=0,
        budget=Budget(None),
        dataset=no_data,
    )


def test_what_a_context_recorded_becomes_the_result_notes_included():
    ctx = bare_context()
    ctx.metric("loss", torch.tensor(0.5), step=1)
    ctx.note("skipped shape 5x5x5")
    ctx.note("and 6x6x6")
    started = datetime.now(UTC)
    result = ctx.result("done", None, started)
    assert (result.status, result.reason) == ("done", "skipped shape 5x5x5; and 6x6x6")
    assert [(m.name, m.value, m.step) for m in result.metrics] == [("loss", 0.5, 1)]
    assert result.started_at == started <= result.finished_at
    # a reason given wins over the notes
    assert ctx.result("failed", "boom", started).reason == "boom"
    assert ctx.judged == frozenset() and ctx.params == {"n": 1}
    with pytest.raises(TypeError):
        ctx.params["n"] = 2  # read-only
    with pytest.raises(AttributeError, match="does not use 'matmul'"):
        _ = ctx.matmul
    assert math.isfinite(ctx.elapsed)
