"""Per-layer activation statistics: the numbers of one tensor, read back in one transfer,
and ``watch_children``'s forward hooks (removed afterwards)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from scratchlab.plugins.stats import RecordBuffer, stat_vector, watch_children


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
