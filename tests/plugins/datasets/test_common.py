"""What every loader shares: labels checked against the classes, and splits normalised with
the training split's mean and std."""

from __future__ import annotations

import numpy as np
import pytest

from scratchlab.plugins.datasets.common import DatasetError, normalised_splits


def test_labels_out_of_range_are_refused():
    x = np.random.default_rng(0).random((20, 4), dtype=np.float32)
    labels = np.arange(20) % 10
    labels[0] = 12
    with pytest.raises(DatasetError, match=r"blobs: train labels must lie in 0\.\.9"):
        normalised_splits(x, labels, x, np.arange(20) % 10, 10, {"dataset": "blobs"})


def test_both_splits_are_normalised_with_the_training_splits_stats():
    rng = np.random.default_rng(0)
    x_train, x_valid = (
        rng.random((50, 3), dtype=np.float32) * 5,
        rng.random((10, 3), dtype=np.float32),
    )
    labels = np.arange(50) % 2
    data = normalised_splits(x_train, labels, x_valid, labels[:10], 2, {"dataset": "d"})
    assert data.x_train.mean().item() == pytest.approx(0.0, abs=1e-5)
    assert data.mean == pytest.approx(float(x_train.mean()), rel=1e-5)
    expected = (x_valid - data.mean) / data.std
    assert np.allclose(data.x_valid.numpy(), expected, atol=1e-5)
    assert x_train.max() > 1  # the caller's arrays are left as they were


def test_a_constant_training_split_is_refused():
    x = np.ones((10, 2), dtype=np.float32)
    with pytest.raises(DatasetError, match="constant"):
        normalised_splits(x, np.zeros(10), x, np.zeros(10), 2, {"dataset": "flat"})
