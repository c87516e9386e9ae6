"""torch's settings as aspects: each is read, described in one phrase when a run changed it,
and put back (runner/torch_state.py; the real sweeps are in test_isolation.py)."""

from __future__ import annotations

import random

import pytest
import torch

from scratchlab.runner.torch_state import denormals_flushed, torch_aspects

CHANGES = {
    "dtype": (lambda: torch.set_default_dtype(torch.float64), "the default dtype"),
    "grad": (lambda: torch.set_grad_enabled(False), "grad mode"),
    "anomaly": (lambda: torch.autograd.set_detect_anomaly(True), "anomaly detection"),
    "denormal": (lambda: torch.set_flush_denormal(True), "flush-denormal"),
    "precision": (lambda: torch.set_float32_matmul_precision("medium"), "matmul precision"),
    "threads": (lambda: torch.set_num_threads(torch.get_num_threads() + 1), "thread count"),
}


@pytest.mark.parametrize("name", sorted(CHANGES))
def test_a_changed_torch_setting_is_named_and_put_back(name):
    aspect = {a.name: a for a in torch_aspects()}[name]
    before = aspect.read()
    change, words = CHANGES[name]
    try:
        change()
        after = aspect.read()
        assert after != before
        assert words in aspect.describe(before, after)
    finally:
        aspect.write(before)
    assert aspect.read() == before


def test_denormals_flushed_reads_torchs_flag():
    assert denormals_flushed() is False
    torch.set_flush_denormal(True)
    try:
        assert denormals_flushed() is True
    finally:
        torch.set_flush_denormal(False)


def test_rng_states_come_back_without_a_word():
    aspect = {a.name: a for a in torch_aspects()}["rng"]
    before = aspect.read()
    drawn = (random.random(), torch.rand(1).item())
    aspect.write(before)
    assert (random.random(), torch.rand(1).item()) == drawn  # the same numbers again
    assert aspect.report is False
