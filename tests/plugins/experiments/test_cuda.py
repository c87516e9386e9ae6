"""The built-in experiments on a CUDA device (run by benchmarks/gpu_check.sh; skipped without one).

Seed 0 throughout. The numbers asserted are the CPU tests' findings, which do
not depend on the device; the timing test also shows that the Timer waits
for the GPU (an unsynchronised timer would only see the kernel launch).
"""

from __future__ import annotations

import math

import pytest
import torch

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

TRAIN = {
    "init": "kaiming-normal",
    "activation": "relu",
    "loss": "cross-entropy",
    "matmul": "torch",
    "dataset": "mnist-5k",
    "optimizer": "sgd",
    "schedule": "constant",
    "norm": "none",
}


def test_matmul_on_cuda_is_correct_and_synchronised(run, done, metrics_of):
    result = done(
        run(
            "matmul",
            {"matmul": "torch"},
            {"shapes": "5x784x10,4096x4096x4096", "min_run_time": 0.1},
            device="cuda",
        )
    )
    metrics = metrics_of(result)
    assert metrics["5x784x10.correct"] == 1.0 and metrics["4096x4096x4096.correct"] == 1.0
    big = next(t for t in result.timings if t.shape == "4096x4096x4096")
    # 1.4e11 flops: even at 1 PFLOP/s that is over 1e-4 s per call, far above a launch
    assert big.median > 1e-4
    assert metrics["4096x4096x4096.gflops"] < 2e6


def test_init_stats_findings_hold_on_cuda(run, done):
    exploded = done(
        run(
            "init-stats",
            {"init": "randn", "activation": "identity"},
            {"models": "deep"},
            device="cuda",
        )
    )
    first = next(m.value for m in exploded.metrics if m.name == "first_nonfinite_layer")
    assert 1 <= first < 100
    stable = done(
        run(
            "init-stats",
            {"init": "kaiming-normal", "activation": "relu"},
            {"models": "deep,conv,mlp"},
            device="cuda",
        )
    )
    deep = [s for s in stable.stats if s.model == "deep"]
    assert 0.3 <= deep[-1].std <= 3
    assert not math.isnan(
        next(s.std for s in stable.stats if s.model == "conv" and s.name == "act")
    )


def test_gradcheck_passes_on_cuda(run, done, metrics_of):
    result = done(
        run(
            "gradcheck",
            {"activation": "relu", "loss": "cross-entropy", "init": "kaiming-normal"},
            device="cuda",
        )
    )
    assert metrics_of(result)["passed"] == 1.0


def test_train_on_cuda_learns_and_records_stats(run, done, metrics_of):
    result = done(run("train", TRAIN, {"lr": 0.1, "stats_every": 63}, device="cuda"))
    metrics = metrics_of(result)
    assert metrics["valid_accuracy"] >= 0.80
    assert metrics["samples_per_s"] > 0
    assert {s.step for s in result.stats} == {0}
    einsum = done(run("train", {**TRAIN, "matmul": "einsum"}, {"lr": 0.1}, device="cuda"))
    assert metrics_of(einsum)["valid_accuracy"] >= 0.80
