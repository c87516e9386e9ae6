"""Every built-in experiment on a CUDA device, through ``run_experiment`` and ``runner sweep``.

Marked ``cuda`` and skipped where no CUDA device exists; ``benchmarks/gpu_check.sh``
runs them (``python -m pytest -m cuda -q``) on a GPU machine. Runs are planned
by the real planner (``runner sweep --experiments X --device cuda``), so their
params are complete exactly as a sweep's are.
"""

from __future__ import annotations

import math
import time

import pytest
import torch
from click.testing import CliRunner

from scratchlab.core.records import PlannedRun, RunResult
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.plan import plan
from scratchlab.runner.run_one import run_experiment
from scratchlab.runner.spec import SweepSpec

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA device (torch.cuda.is_available() is False)",
    ),
]

STRATEGIES = ("python", "elementwise", "broadcast", "einsum", "torch")
LESSONS_SHAPE = "5x784x10"
#: no GPU does float32 matmuls faster than this; a timing that implies more did not wait for the kernel
IMPOSSIBLE_GFLOPS = 2_000_000.0


@pytest.fixture(scope="module")
def plugins():
    """The built-in plugins, strictly loaded (a broken one fails here, not later)."""
    return load_plugins(strict=True, disabled=())


def planned(
    plugins, experiment: str, components: dict[str, tuple[str, ...]] | None = None, **settings
) -> PlannedRun:
    """The single cuda run that ``runner sweep --experiments <experiment> --device cuda`` plans."""
    spec = SweepSpec(
        experiments=(experiment,),
        components=components or {},
        devices=("cuda",),
        settings={experiment: settings} if settings else {},
    )
    (run,) = plan(spec, plugins.registry)
    return run


def done(result: RunResult) -> RunResult:
    """Assert the run finished ``done``, showing its reason otherwise."""
    assert result.status == "done", f"{result.status}: {result.reason}"
    return result


def metrics_of(result: RunResult) -> dict[str, float]:
    """The last value of each metric, by name."""
    return {m.name: m.value for m in result.metrics}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_matmul_strategy_runs_and_is_correct_on_cuda(plugins, strategy):
    run = planned(
        plugins, "matmul", {"matmul": (strategy,)}, shapes=LESSONS_SHAPE, min_run_time=0.05
    )
    result = done(run_experiment(plugins, run))
    (timing,) = result.timings
    values = metrics_of(result)
    assert values[f"{LESSONS_SHAPE}.correct"] == 1.0, values
    assert 0 < timing.min <= timing.median <= timing.max
    assert math.isfinite(timing.iqr)


def test_cuda_timings_wait_for_the_kernel(plugins):
    """A stored cuda timing is synchronised: an unsynchronised one would only time the launch."""
    shape = "4096x4096x4096"
    run = planned(plugins, "matmul", {"matmul": ("torch",)}, shapes=shape, min_run_time=0.2)
    (timing,) = done(run_experiment(plugins, run)).timings
    assert timing.flops / timing.median / 1e9 < IMPOSSIBLE_GFLOPS
    # the same product timed by hand with CUDA events, the way the CUDA docs do it
    a = torch.randn(4096, 4096, device="cuda")
    b = torch.randn(4096, 4096, device="cuda")
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        a @ b
    end.record()
    torch.cuda.synchronize()
    by_events = start.elapsed_time(end) / 1e3 / 10
    assert by_events / 2 < timing.median < by_events * 2, (timing.median, by_events)


def test_init_stats_runs_every_model_on_cuda(plugins):
    result = done(run_experiment(plugins, planned(plugins, "init-stats")))
    models = {s.model for s in result.stats}
    assert models == {"mlp", "deep", "conv"}
    deep = [s for s in result.stats if s.model == "deep"]
    assert len(deep) == 101  # the input and 100 layers
    # the default kaiming-normal + relu keeps the deep stack's scale (the lessons' finding)
    assert 0.3 < deep[-1].std < 3


def test_gradcheck_passes_on_cuda(plugins):
    values = metrics_of(done(run_experiment(plugins, planned(plugins, "gradcheck"))))
    assert values["passed"] == 1.0, values


@pytest.mark.parametrize("stats_every", [0, 10])
def test_train_learns_on_cuda(plugins, stats_every):
    run = planned(plugins, "train", stats_every=stats_every)
    started = time.perf_counter()
    result = done(run_experiment(plugins, run))
    wall = time.perf_counter() - started
    values = metrics_of(result)
    # ten classes: chance is 0.1; at lr 0.5 the loop is chaotic enough that the GPU's
    # rounding lands elsewhere than the CPU's (0.6 there), so only "it learned" is asserted
    assert values["valid_accuracy"] > 0.3, values
    assert math.isfinite(values["valid_loss"])
    # epoch_time_s is measured between device syncs, so it cannot exceed the run's wall time
    assert 0 < values["epoch_time_s"] <= wall
    assert bool(result.stats) == bool(stats_every)
    losses = [m.value for m in result.metrics if m.name == "train_loss"]
    assert losses and all(math.isfinite(v) for v in losses)


def test_runner_sweep_stores_cuda_runs(tmp_path):
    from scratchlab.db import open_store, queries
    from scratchlab.runner.cli import cli

    url = f"sqlite:///{tmp_path / 'gpu.db'}"
    result = CliRunner().invoke(
        cli,
        [
            "--db",
            url,
            "sweep",
            "--plugins",
            "matmul",
            "--matmul",
            "torch,einsum",
            "--experiments",
            "matmul,train",
            "--device",
            "cuda",
            "-s",
            "matmul.shapes=64x784x50",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    with open_store(url, read_only=True) as store:
        runs = queries.list_runs(store)
        timings = queries.timings(store)
    assert set(runs["status"]) == {"done"} and len(runs) == 4
    assert set(runs["device"]) == {"cuda"}
    assert set(timings["matmul"]) == {"torch", "einsum"} and set(timings["device"]) == {"cuda"}
