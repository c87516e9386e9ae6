"""The near-zero fraction is lesson 06's get_min (over the values inside the histogram's
range), with the fraction out of range stored beside it."""

from __future__ import annotations

import pytest
import torch

from scratchlab.plugins.histograms import Binning, HistogramBuffer, histogram_vector


def get_min(hists: list[torch.Tensor]) -> torch.Tensor:
    """06_cuda_cnn_hooks_init's get_min, as the notebook writes it."""
    h1 = torch.stack(hists).t().float()
    return h1[19:22].sum(0) / h1.sum(0)


def relu_like_with_a_tail(seed: int) -> torch.Tensor:
    """Kaiming + relu-like outputs: most near zero, about 3% beyond the histogram's 7."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(20_000, generator=gen).clamp_min(0) * 2.0
    tail = torch.rand(20_000, generator=gen) < 0.03
    return torch.where(tail, 7.5 + torch.rand(20_000, generator=gen), x)


def test_near_zero_is_get_min_and_out_of_range_is_stored_beside_it():
    steps = [relu_like_with_a_tail(seed) for seed in range(3)]
    lesson = get_min([s.histc(40, -7, 7) for s in steps])
    buffer = HistogramBuffer()
    for step, tensor in enumerate(steps):
        buffer.add("cnn", 2, "conv1", tensor, step, Binning())
    stored = [r.frac_near_zero for r in buffer.records]
    assert stored == pytest.approx(lesson.tolist(), abs=1e-6)
    for tensor in steps:
        vector = histogram_vector(tensor, Binning())
        outside = ((tensor < -7) | (tensor > 7)).float().mean().item()
        assert 0.02 < vector[-1].item() == pytest.approx(outside, abs=1e-6)
        # the old definition, over every value, is measurably lower here
        assert (
            vector[-2].item() - ((tensor < 0.7) & (tensor >= -0.35)).float().mean().item() > 0.005
        )


def test_no_value_in_range_has_no_near_zero_fraction():
    vector = histogram_vector(torch.full((10,), 50.0), Binning())
    assert torch.isnan(vector[-2]) and vector[-1].item() == 1.0
