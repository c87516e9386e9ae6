"""Synthetic blobs: the asked sizes, seeded, separable when tight; bad params in one line."""

from __future__ import annotations

import pytest
import torch

from scratchlab.plugins.datasets.common import DatasetError
from scratchlab.plugins.datasets.synthetic import load_synthetic


def test_synthetic_has_the_asked_sizes_and_is_seeded():
    data = load_synthetic(n_train=200, n_valid=50, n_classes=4, n_features=16, seed=3)
    assert data.x_train.shape == (200, 16) and data.x_valid.shape == (50, 16)
    assert data.n_classes == 4 and data.y_train.bincount().tolist() == [50] * 4
    assert data.x_train.mean().item() == pytest.approx(0.0, abs=1e-5)
    again = load_synthetic(n_train=200, n_valid=50, n_classes=4, n_features=16, seed=3)
    other = load_synthetic(n_train=200, n_valid=50, n_classes=4, n_features=16, seed=4)
    assert torch.equal(data.x_train, again.x_train) and torch.equal(data.y_valid, again.y_valid)
    assert not torch.equal(data.x_train, other.x_train)


def test_synthetic_blobs_are_separable_when_tight():
    data = load_synthetic(n_train=400, n_valid=100, n_classes=5, n_features=20, spread=0.1)
    centres = torch.stack([data.x_train[data.y_train == c].mean(0) for c in range(5)])
    nearest = torch.cdist(data.x_valid, centres).argmin(1)
    assert (nearest == data.y_valid).float().mean().item() > 0.95


@pytest.mark.parametrize(
    "params",
    [{"n_train": 0}, {"n_classes": 1}, {"n_features": 2.5}, {"spread": -1.0}, {"n_valid": "10"}],
)
def test_synthetic_bad_params_are_clear(params):
    with pytest.raises(DatasetError, match=next(iter(params))):
        load_synthetic(**params)
