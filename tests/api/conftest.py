"""A small results database for the notebook API's tests, written through the store."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from scratchlab.db import open_store
from scratchlab.db.records import MetricRecord, PlannedRun, RunResult, StatRecord, TimingRecord

#: final valid accuracy of the three train runs, by init
ACCURACY = {"kaiming-normal": 0.9, "xavier": 0.85, "randn": 0.75}


def _planned(key: str, experiment: str, components: dict, params: dict) -> PlannedRun:
    return PlannedRun(
        key=key, experiment=experiment, components=components, params=params, seed=0, repeat=0
    )


def _times(seconds: float) -> tuple[datetime, datetime]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return start, start + timedelta(seconds=seconds)


def _deep(init: str) -> list[StatRecord]:
    """Five layers whose std shrinks (kaiming-normal stays near 1, randn explodes)."""
    records = []
    for layer in range(1, 6):
        std = 10.0**layer if init == "randn" else 0.9**layer
        records.append(
            StatRecord(
                model="deep",
                layer=layer,
                name=f"layer{layer}",
                mean=0.0,
                std=std,
                min=-std,
                max=std,
                frac_zero=0.5,
                frac_nonfinite=0.0,
            )
        )
    return records


def build(path) -> str:
    """Sweep 1: three train runs, one failed; sweep 2: init-stats for two inits and one matmul run."""
    url = f"sqlite:///{path}"
    with open_store(url) as store:
        first = store.create_sweep(
            "train", ["runner", "sweep"], {"headlines": {"train": ["valid_accuracy"]}}, {}
        )
        planned = [_planned(f"t-{init}", "train", {"init": init}, {"lr": 0.2}) for init in ACCURACY]
        planned.append(_planned("t-fail", "train", {"init": "randn"}, {"lr": 9.0}))
        ids = store.add_runs(first, planned)
        for step, init in enumerate(ACCURACY):
            metrics = [MetricRecord("train_loss", 1.0 / (s + 1), s) for s in range(5)]
            metrics += [
                MetricRecord("valid_accuracy", ACCURACY[init] - 0.1, 2),
                MetricRecord("valid_accuracy", ACCURACY[init], 4),
            ]
            store.write_result(
                ids[f"t-{init}"], RunResult("done", None, *_times(1 + step), metrics=metrics)
            )
        store.write_result(
            ids["t-fail"],
            RunResult(
                "failed",
                "FloatingPointError: loss is nan",
                *_times(0.5),
                metrics=[MetricRecord("train_loss", math.nan, 1)],
            ),
        )
        store.finish_sweep(first, "failed")
        second = store.create_sweep("init", ["runner", "sweep"], {}, {})
        planned = [
            _planned(f"i-{init}", "init-stats", {"init": init, "activation": "relu"}, {"depth": 5})
            for init in ("kaiming-normal", "randn")
        ]
        planned.append(_planned("m", "matmul", {"matmul": "torch"}, {"shapes": "4x8x4"}))
        ids = store.add_runs(second, planned)
        for init in ("kaiming-normal", "randn"):
            store.write_result(
                ids[f"i-{init}"], RunResult("done", None, *_times(1), stats=_deep(init))
            )
        timing = TimingRecord(
            label="4x8x4",
            replicates=[1e-6] * 3,
            median=1e-6,
            iqr=1e-8,
            mean=1e-6,
            min=1e-6,
            max=1e-6,
            shape="4x8x4",
            flops=256.0,
        )
        store.write_result(
            ids["m"],
            RunResult(
                "done",
                None,
                *_times(1),
                timings=[timing],
                metrics=[MetricRecord("4x8x4.median_s", 1e-6)],
            ),
        )
        store.finish_sweep(second, "done")
    return url


@pytest.fixture(scope="session")
def results_url(tmp_path_factory) -> str:
    """The URL of :func:`build`'s database (tests only read it)."""
    return build(tmp_path_factory.mktemp("api") / "runs.db")
