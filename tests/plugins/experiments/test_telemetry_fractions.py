"""The telemetry experiment stores lesson 06's near-zero fraction and the fraction out of range."""

from __future__ import annotations

import pytest
import torch

from scratchlab.core.records import PlannedRun
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.plan import plan
from scratchlab.runner.run_one import run_experiment
from scratchlab.runner.spec import SweepSpec

CONVS = ["conv1", "conv2", "conv3", "conv4"]


@pytest.fixture(scope="module")
def registry():
    return load_plugins(strict=True, disabled=()).registry


def planned_telemetry(registry, **settings) -> PlannedRun:
    spec = SweepSpec(
        experiments=("telemetry",),
        components={"init": ("kaiming-normal",), "activation": ("relu",)},
        settings={"telemetry": {"n_train": 256, "every": 4, **settings}},
    )
    (run,) = plan(spec, registry)
    return run


@pytest.mark.slow
def test_final_fractions_are_get_min_with_the_out_of_range_share_beside(registry):
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = run_experiment(registry, planned_telemetry(registry))
    finally:
        torch.set_num_threads(previous)
    assert result.status == "done", result.reason
    metrics = {m.name: m.value for m in result.metrics}
    last = max(h.step for h in result.histograms)
    for name in CONVS:
        (h,) = [h for h in result.histograms if h.name == name and h.step == last]
        counts = torch.tensor(h.counts, dtype=torch.float64)
        assert metrics[f"frac_near_zero.{name}"] == pytest.approx(
            (counts[19:22].sum() / counts.sum()).item(), abs=1e-6
        )
        assert 0 <= metrics[f"frac_out_of_range.{name}"] < 1
    assert metrics["frac_out_of_range"] == pytest.approx(
        sum(metrics[f"frac_out_of_range.{n}"] for n in CONVS) / 4
    )
