"""Fixtures for the reports tests: frames shaped like the read queries' results
(for the page logic, tested without a database), a small real database written
through the store's write path (for the app and the commands), and helpers for
tests that start servers. Test modules reach the constants and helpers through
the ``samples`` fixture (conftest modules are not importable by name)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from scratchlab.db import open_store
from scratchlab.db.records import MetricRecord, PlannedRun, RunResult, StatRecord, TimingRecord

STRATEGIES = {"python": 2e-2, "broadcast": 2e-4, "einsum": 2e-5, "torch": 1e-5}
SHAPES = {"5x784x10": 5 * 784 * 10, "64x784x50": 64 * 784 * 50}
N_REPLICATES = 7


def expected_median(strategy: str, shape: str, scale: float = 1.0) -> float:
    """The median time (seconds) the fixtures give ``strategy`` on ``shape``."""
    return STRATEGIES[strategy] * SHAPES[shape] / 39200 * scale


def replicate_values(
    strategy: str, shape: str, scale: float, rng: np.random.Generator
) -> list[float]:
    """Seven replicates spread +-2% around :func:`expected_median`, the median exactly in the middle."""
    median = expected_median(strategy, shape, scale)
    return [
        float(v) for v in median + rng.permutation(median * np.linspace(-0.02, 0.02, N_REPLICATES))
    ]


def timing_frames(scale: float = 1.0, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``timings`` and ``timing_replicates`` frames: every strategy x shape, one run
    each, seven replicates around a known median (times multiplied by ``scale``)."""
    rng = np.random.default_rng(seed)
    timings, replicates = [], []
    timing_id = 0
    for run_id, strategy in enumerate(STRATEGIES, start=1):
        for shape, madds in SHAPES.items():
            timing_id += 1
            values = np.array(replicate_values(strategy, shape, scale, rng))
            q1, q3 = np.percentile(values, [25, 75])
            timings.append(
                {
                    "timing_id": timing_id,
                    "run_id": run_id,
                    "sweep_id": 1,
                    "experiment": "matmul",
                    "device": "cpu",
                    "label": shape,
                    "shape": shape,
                    "n": N_REPLICATES,
                    "median": float(np.median(values)),
                    "iqr": float(q3 - q1),
                    "mean": float(values.mean()),
                    "min": float(values.min()),
                    "max": float(values.max()),
                    "flops": 2.0 * madds,
                    "threads": 1,
                    "matmul": strategy,
                }
            )
            replicates.extend(
                {"timing_id": timing_id, "replicate": i, "seconds": float(v)}
                for i, v in enumerate(values)
            )
    return pd.DataFrame(timings), pd.DataFrame(replicates)


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """A ``list_runs`` frame: the run columns filled with defaults, params as given."""
    base = {
        "sweep_id": 1,
        "key": "",
        "experiment": "init-stats",
        "status": "done",
        "device": "cpu",
        "dtype": "float32",
        "seed": 0,
        "repeat": 0,
        "started_at": pd.Timestamp("2024-01-01", tz="UTC"),
        "finished_at": pd.Timestamp("2024-01-01", tz="UTC"),
        "duration_s": 1.0,
        "reason": None,
    }
    frame = pd.DataFrame([{**base, **row} for row in rows])
    first = ["run_id", *base]
    return frame[first + [c for c in frame.columns if c not in first]]


def stats_data():
    """(stats, runs): two init x activation combos, three models; the ``randn`` deep
    stack goes non-finite from layer 7, and one run has per-step stats."""
    runs = runs_frame(
        [
            {"run_id": 1, "init": "kaiming-normal", "activation": "relu"},
            {"run_id": 2, "init": "randn", "activation": "relu"},
            {"run_id": 3, "init": "kaiming-normal", "activation": "relu", "repeat": 1, "seed": 1},
        ]
    )
    rows = []
    for run_id, grows in ((1, False), (2, True), (3, False)):
        for model, layers in (("mlp", 2), ("deep", 10), ("conv", 1)):
            for layer in range(layers):
                std = (1e5 ** (layer + 1)) if grows else 1.0 + 0.01 * run_id
                finite = std < 1e38
                rows.append(
                    {
                        "run_id": run_id,
                        "model": model,
                        "layer": layer,
                        "name": f"{model}.{layer}",
                        "step": None,
                        "mean": std * 0.5 if finite else float("nan"),
                        "std": std if finite else float("inf"),
                        "min": 0.0,
                        "max": std * 3 if finite else float("inf"),
                        "frac_zero": 0.5,
                        "frac_nonfinite": 0.0 if finite else 1.0,
                    }
                )
    for step in range(0, 50, 10):
        for layer in range(2):
            rows.append(
                {
                    "run_id": 1,
                    "model": "mlp",
                    "layer": layer,
                    "name": f"mlp.{layer}",
                    "step": step,
                    "mean": 0.1 * step,
                    "std": 1.0 + step,
                    "min": 0.0,
                    "max": 5.0,
                    "frac_zero": 0.4,
                    "frac_nonfinite": 0.0,
                }
            )
    stats = pd.DataFrame(rows)
    stats["step"] = stats["step"].astype("Int64")
    return stats, runs


def training_data():
    """(metrics, final, runs): two learning rates, three repeats each; loss falls
    as 1/(step+1) times the repeat's factor; final accuracy and samples/s per run."""
    runs_rows, metric_rows, final_rows = [], [], []
    run_id = 0
    for lr in (0.1, 0.5):
        for repeat in range(3):
            run_id += 1
            runs_rows.append(
                {
                    "run_id": run_id,
                    "experiment": "train",
                    "seed": repeat,
                    "repeat": repeat,
                    "activation": "relu",
                    "lr": lr,
                    "bs": 64,
                }
            )
            factor = 1.0 + 0.1 * (repeat - 1)
            for step in range(10):
                metric_rows.append(
                    {
                        "run_id": run_id,
                        "name": "train_loss",
                        "step": step,
                        "value": factor * (2.0 if lr == 0.1 else 1.0) / (step + 1),
                    }
                )
            final_rows += [
                {
                    "run_id": run_id,
                    "name": "accuracy",
                    "value": 0.9 + 0.01 * repeat + (0.05 if lr == 0.5 else 0),
                },
                {"run_id": run_id, "name": "samples_per_s", "value": 1000.0 * (repeat + 1)},
            ]
    return pd.DataFrame(metric_rows), pd.DataFrame(final_rows), runs_frame(runs_rows)


# -- a real database, written through the store's write path --------------------------

ENVIRONMENT = {
    "python": "3.11.7",
    "torch": "2.3.0",
    "cpu": "Intel Xeon",
    "devices": ["cpu"],
    "git": "abc123",
    "packages": {"numpy": "1.26.4"},
}
INIT_ACTIVATIONS = [
    ("kaiming-normal", "relu"),
    ("kaiming-normal", "tanh"),
    ("randn", "relu"),
    ("randn", "tanh"),
]
DEEP_LAYERS = 12
#: randn x relu: std grows x1e4 per layer, so float32 overflows from this layer on
FIRST_NONFINITE = 9
TRACEBACK = (
    'Traceback (most recent call last):\n  File "train.py", line 120, in run\n    loss.backward()\n'
    "FloatingPointError: loss is nan at step 3 <script>alert(1)</script> [bold]not markup[/bold]"
)
SKIP_REASON = "python: 784x784x784 is 4.8e+08 multiply-adds, limit 1e+06"


@dataclass
class SampleDB:
    """What :func:`build_sample_db` wrote: the URL and the ids tests look for."""

    url: str
    path: Path
    matmul_sweep: int
    train_sweep: int
    rerun_sweep: int
    failed_run: int
    skipped_runs: list[int]
    train_runs: list[int]
    matmul_runs: dict[str, int]


def _times(seconds: float = 1.0) -> tuple[datetime, datetime]:
    started = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    return started, started + timedelta(seconds=seconds)


def _planned(
    key: str, experiment: str, components: dict, params: dict, repeat: int = 0
) -> PlannedRun:
    return PlannedRun(
        key=key,
        experiment=experiment,
        components=components,
        params=params,
        seed=repeat,
        repeat=repeat,
        component_versions={c: "0.1.0+abc" for c in components},
    )


def _timing(strategy: str, shape: str, scale: float, rng) -> TimingRecord:
    values = replicate_values(strategy, shape, scale, rng)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return TimingRecord(
        label=shape,
        replicates=values,
        median=float(median),
        iqr=float(q3 - q1),
        mean=float(np.mean(values)),
        min=min(values),
        max=max(values),
        shape=shape,
        flops=2.0 * SHAPES[shape],
        threads=1,
    )


def _matmul_sweep(
    store, name: str, environment: dict, slow: dict[str, float], seed: int
) -> tuple[int, dict]:
    """Every strategy timed on both shapes (einsum/torch/... scaled by ``slow``), plus one skipped run."""
    rng = np.random.default_rng(seed)
    sweep_id = store.create_sweep(
        name, ["runner", "sweep", "--plugins", "matmul"], {"plugins": ["matmul"]}, environment
    )
    shapes = ",".join(SHAPES)
    planned = [
        _planned(f"mm-{s}", "matmul", {"matmul": s}, {"shapes": shapes, "rtol": 1e-3})
        for s in STRATEGIES
    ]
    planned.append(
        _planned("mm-skip", "matmul", {"matmul": "python"}, {"shapes": "784x784x784", "rtol": 1e-3})
    )
    ids = store.add_runs(sweep_id, planned)
    for strategy in STRATEGIES:
        timings = [_timing(strategy, shape, slow.get(strategy, 1.0), rng) for shape in SHAPES]
        metrics = [MetricRecord(f"{t.label}.gflops", t.flops / t.median / 1e9) for t in timings]
        metrics += [MetricRecord(f"{t.label}.max_rel_err", 1e-7) for t in timings]
        store.write_result(
            ids[f"mm-{strategy}"],
            RunResult("done", None, *_times(2.0), timings=timings, metrics=metrics),
        )
    store.write_result(ids["mm-skip"], RunResult("skipped", SKIP_REASON, *_times(0.01)))
    store.finish_sweep(sweep_id, "done")
    return sweep_id, {s: ids[f"mm-{s}"] for s in STRATEGIES} | {"skip": ids["mm-skip"]}


def _layer_std(init: str, activation: str, layer: int) -> float:
    if init == "randn":
        return 1e4 ** (layer + 1) if activation == "relu" else 1.0
    return 0.8 if activation == "relu" else 0.6 * 0.97**layer


def _stats(
    model: str, layers: int, init: str, activation: str, step: int | None = None
) -> list[StatRecord]:
    records = []
    for layer in range(layers):
        std = _layer_std(init, activation, layer)
        finite = std < 3e38
        records.append(
            StatRecord(
                model=model,
                layer=layer,
                name=f"layer{layer}",
                mean=std / 2 if finite else math.nan,
                std=std if finite else math.inf,
                min=0.0,
                max=std * 4 if finite else math.inf,
                frac_zero=0.5 if activation == "relu" else 0.0,
                frac_nonfinite=0.0 if finite else 1.0,
                step=step,
            )
        )
    return records


def _train_sweep(store) -> tuple[int, list[int], int]:
    """init-stats for four init x activation combos; train with two lrs x three repeats; one failed train run."""
    sweep_id = store.create_sweep(
        "init-train",
        ["runner", "sweep", "--plugins", "init,activation", "--repeat", "3"],
        {"plugins": ["init", "activation"]},
        ENVIRONMENT,
    )
    planned = [
        _planned(
            f"is-{i}-{a}",
            "init-stats",
            {"init": i, "activation": a},
            {"hidden": 50, "depth": DEEP_LAYERS},
        )
        for i, a in INIT_ACTIVATIONS
    ]
    planned += [
        _planned(
            f"tr-{lr}-{r}",
            "train",
            {"init": "kaiming-normal", "activation": "relu", "matmul": "torch"},
            {"lr": lr, "bs": 64, "epochs": 2},
            repeat=r,
        )
        for lr in (0.1, 0.5)
        for r in range(3)
    ]
    planned.append(
        _planned(
            "tr-fail",
            "train",
            {"init": "randn", "activation": "relu", "matmul": "torch"},
            {"lr": 5.0, "bs": 64, "epochs": 2},
        )
    )
    ids = store.add_runs(sweep_id, planned)
    for init, activation in INIT_ACTIVATIONS:
        stats = _stats("mlp", 3, init, activation) + _stats("deep", DEEP_LAYERS, init, activation)
        stats += _stats("conv", 2, init, activation)
        deep = [s for s in stats if s.model == "deep" and s.frac_nonfinite > 0]
        first = float(deep[0].layer) if deep else math.nan
        store.write_result(
            ids[f"is-{init}-{activation}"],
            RunResult(
                "done",
                None,
                *_times(3.0),
                stats=stats,
                metrics=[MetricRecord("first_nonfinite_layer", first)],
            ),
        )
    train_runs = []
    for lr in (0.1, 0.5):
        for repeat in range(3):
            factor = (2.0 if lr == 0.1 else 1.0) * (1.0 + 0.1 * (repeat - 1))
            metrics = [MetricRecord("train_loss", factor / (step + 1), step) for step in range(20)]
            metrics += [
                MetricRecord("valid_loss", factor / 12, 10),
                MetricRecord("valid_loss", factor / 22, 20),
            ]
            accuracy = 0.90 + (0.05 if lr == 0.5 else 0.0) + 0.01 * repeat
            metrics += [
                MetricRecord("valid_accuracy", accuracy - 0.02, 10),
                MetricRecord("valid_accuracy", accuracy, 20),
            ]
            metrics.append(MetricRecord("samples_per_s", 1000.0 * (repeat + 1)))
            stats = _stats("mlp", 3, "kaiming-normal", "relu", step=0) + _stats(
                "mlp", 3, "kaiming-normal", "relu", step=10
            )
            run_id = ids[f"tr-{lr}-{repeat}"]
            store.write_result(
                run_id, RunResult("done", None, *_times(5.0), stats=stats, metrics=metrics)
            )
            train_runs.append(run_id)
    store.write_result(
        ids["tr-fail"],
        RunResult(
            "failed", TRACEBACK, *_times(0.5), metrics=[MetricRecord("train_loss", math.nan, 3)]
        ),
    )
    store.finish_sweep(sweep_id, "done")
    return sweep_id, train_runs, ids["tr-fail"]


def build_sample_db(path: Path) -> SampleDB:
    """A small realistic database, written as a sweep would write it: sweep 1 times four
    matmul strategies on two shapes (and skips one run); sweep 2 runs init-stats and
    train (one failed run); sweep 3 repeats sweep 1 on newer torch with einsum 1.5x slower."""
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        matmul_sweep, matmul_runs = _matmul_sweep(store, "matmul-cpu", ENVIRONMENT, {}, seed=0)
        train_sweep, train_runs, failed = _train_sweep(store)
        newer = {**ENVIRONMENT, "torch": "2.4.0"}
        rerun_sweep, rerun_runs = _matmul_sweep(
            store, "matmul-cpu-rerun", newer, {"einsum": 1.5}, seed=1
        )
    return SampleDB(
        url=url,
        path=path,
        matmul_sweep=matmul_sweep,
        train_sweep=train_sweep,
        rerun_sweep=rerun_sweep,
        failed_run=failed,
        skipped_runs=[matmul_runs.pop("skip"), rerun_runs["skip"]],
        train_runs=train_runs,
        matmul_runs=matmul_runs,
    )


def as_shown(markdown: str) -> str:
    """What a viewer reads for Markdown made by ``views.common.plain``: escapes and word joiners removed."""
    import re

    return re.sub(r"\\(.)", r"\1", markdown).replace("\u2060", "")


@pytest.fixture(scope="session")
def samples() -> SimpleNamespace:
    """The sample data's constants and builders, by name (the server helpers are in
    ``scratchlab.reports.browser``)."""
    names = (
        "STRATEGIES",
        "SHAPES",
        "N_REPLICATES",
        "TRACEBACK",
        "SKIP_REASON",
        "FIRST_NONFINITE",
        "expected_median",
        "timing_frames",
        "as_shown",
    )
    return SimpleNamespace(**{name: globals()[name] for name in names})


@pytest.fixture
def timings_frames():
    """(timings, replicates) of a 4-strategy x 2-shape matmul sweep."""
    return timing_frames()


@pytest.fixture
def stats_frames():
    """(stats, runs) of :func:`stats_data`."""
    return stats_data()


@pytest.fixture
def training_frames():
    """(metrics, final, runs) of :func:`training_data`."""
    return training_data()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory) -> SampleDB:
    """:func:`build_sample_db` in a session-wide temporary file (tests only read it)."""
    return build_sample_db(tmp_path_factory.mktemp("reports") / "runs.db")


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    """One headless Chromium for the session's browser tests (skipped where there is none)."""
    from scratchlab.reports import browser

    if browser.chromium_binary() is None:
        pytest.skip("no chromium binary (apt-get install chromium)")
    with browser.Chromium(
        tmp_path_factory.mktemp("chromium") / "profile", size="1400,2200"
    ) as driver:
        yield driver


#: the README's main job, reduced so the session builds it in a minute or two: three
#: strategies on the lessons' shape, three inits (randn explodes, kaiming holds, torch's
#: default fades), one epoch; and a gradcheck sweep of activation x loss with randn and
#: kaiming weights (where the naive log-softmax overflows)
MAIN_JOB = (
    [
        "sweep",
        "--plugins",
        "matmul,init",
        "--matmul",
        "python,einsum,torch",
        "--init",
        "randn,kaiming-normal,torch-default",
        "-s",
        "matmul.shapes=5x784x10,64x784x50",
        "-s",
        "matmul.min_run_time=0.05",
        "-s",
        "train.epochs=1",
        "--name",
        "main-job",
    ],
    [
        "sweep",
        "--plugins",
        "activation,loss",
        "--experiments",
        "gradcheck",
        "--init",
        "randn,kaiming-normal",
        "--activation",
        "relu,tanh",
        "--loss",
        "nll-naive,nll-logsumexp,cross-entropy",
        "-s",
        "gradcheck.batch=200",
        "--name",
        "checks",
    ],
)


@pytest.fixture(scope="session")
def main_job_db(tmp_path_factory) -> str:
    """The URL of a database the reduced :data:`MAIN_JOB` wrote through ``runner sweep``
    (built once per session; ``SCRATCHLAB_MAIN_JOB_DB`` names a ready one instead)."""
    import os
    import subprocess
    import sys

    ready = os.environ.get("SCRATCHLAB_MAIN_JOB_DB")
    if ready:
        return ready
    url = f"sqlite:///{tmp_path_factory.mktemp('main-job') / 'runs.db'}"
    for command in MAIN_JOB:
        result = subprocess.run(
            [sys.executable, "-m", "scratchlab.runner.cli", "--db", url, *command],
            capture_output=True,
            text=True,
            timeout=1500,
        )
        assert result.returncode == 0, result.stderr[-3000:]
    return url
