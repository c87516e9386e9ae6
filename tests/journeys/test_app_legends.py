"""The Training and Checks pages in Chromium on the sweeps issue 24 describes: the
main job's 16 train configurations (8 inits x 2 strategies), the CNN optimizer x
norm sweep with ``--repeat 2``, and a gradcheck grid of 6 losses. Asserts the pages
render; the screenshots (``test-artifacts/report-pages/legends-*.png``) are the
evidence that every legend entry, dash and label shows and bands stay in range."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult
from scratchlab.db import open_store
from scratchlab.reports import browser

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "report-pages"
INITS = ["randn", "simple", "kaiming-normal", "kaiming-uniform"]
INITS += ["torch-kaiming-normal", "torch-default", "xavier", "lsuv"]
OPTIMIZERS = ["sgd", "sgd-wd", "momentum", "adam", "lamb"]
NORMS = ["none", "batchnorm", "layernorm", "instancenorm", "groupnorm", "running-batchnorm"]
LOSSES = ["cross-entropy", "label-smoothing", "mse", "nll-logsumexp", "nll-naive"]
LOSSES += ["nll-simplified"]

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]


def curves(rng: random.Random, badness: float, steps: int = 126) -> list[MetricRecord]:
    """Two epochs of a run: train loss every 10 steps, valid loss and accuracy per epoch."""
    found = [
        MetricRecord("train_loss", badness * 2.3 * math.exp(-s / 40) + 0.2 + rng.random() / 20, s)
        for s in range(0, steps, 10)
    ]
    for epoch, step in ((1, steps // 2), (2, steps)):
        found.append(MetricRecord("epoch_time_s", 0.2 + rng.random() / 100, step))
        found.append(MetricRecord("valid_loss", badness * 0.9 / epoch + rng.random() / 10, step))
        accuracy = max(0.1, 0.95 - badness * 0.4 / epoch - rng.random() / 10)
        found.append(MetricRecord("valid_accuracy", accuracy, step))
    return found


def sweep(store, name: str, planned: list[PlannedRun], badness) -> int:
    rng = random.Random(name)
    sweep_id = store.create_sweep(name, ["runner", "sweep"], {}, {})
    ids = store.add_runs(sweep_id, planned)
    for run in planned:
        store.write_result(ids[run.key], RunResult("done", metrics=badness(run, rng)))
    store.finish_sweep(sweep_id, "done")
    return sweep_id


def build(url: str) -> None:
    with open_store(url) as store:
        main = [
            PlannedRun(f"m-{i}-{m}", "train", {"init": i, "matmul": m}, {"lr": 0.2})
            for i in INITS
            for m in ("einsum", "torch")
        ]
        sweep(store, "main-job", main, lambda r, rng: curves(rng, 3.0 if "randn" in r.key else 1.0))
        cnn = [
            PlannedRun(f"c-{o}-{n}-{r}", "train", {"optimizer": o, "norm": n}, {}, seed=r, repeat=r)
            for o in OPTIMIZERS
            for n in NORMS
            for r in (0, 1)
        ]
        diverging = ("adam", "lamb")
        sweep(
            store,
            "cnn-optimizers",
            cnn,
            lambda r, rng: curves(
                rng, (4.0 if r.key.split("-")[1] in diverging else 1.0) * rng.random()
            ),
        )
        checks = [
            PlannedRun(
                f"g-{i}-{a}-{loss}",
                "gradcheck",
                {"init": i, "activation": a, "loss": loss},
                {"rtol": 1e-3},
            )
            for i in ("randn", "kaiming-normal", "torch-kaiming-normal")
            for a in ("relu", "tanh")
            for loss in LOSSES
        ]

        def verdict(run, rng):
            error = (
                10 ** rng.uniform(-7.5, -4) if "randn" not in run.key else 10 ** rng.uniform(-4, -1)
            )
            return [
                MetricRecord("x.max_rel_err", error),
                MetricRecord("passed", 1.0 if error < 1e-3 else 0.0),
                MetricRecord("loss", 2.3),
            ]

        sweep(store, "checks", checks, verdict)


def test_training_and_checks_pages_show_every_legend_entry(chromium, tmp_path):
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    build(url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pages = [
        ("legends-training-main", "training?sweep=1", "Training"),
        ("legends-training-cnn", "training?sweep=2", "Training"),
        ("legends-checks", "checks?sweep=3", "Checks"),
    ]
    with browser.served_app(url, tmp_path) as base:
        for step, (name, path, title) in enumerate(pages):
            shot = SHOTS / f"{name}.png"
            go = {"url": f"{base}/{path}", "ready": "charts", "screenshot": shot, "settle": 10.0}
            # the first page by URL, the others as a person goes on (no reload)
            visit = chromium.move(title=title, **go) if step else chromium.visit(**go)
            assert visit.ready, name
            assert visit.state["exceptions"] == 0 and not visit.state["errors"], name
            assert shot.stat().st_size > 10_000
