"""The datasets plugin registers the four built-in datasets, each from its own module."""

from __future__ import annotations

from scratchlab.plugins.manager import load_plugins


def test_the_four_datasets_are_registered_with_their_params():
    registry = load_plugins().registry
    assert sorted(registry.names("dataset")) == ["mnist", "mnist-5k", "mnist-idx", "synthetic"]
    assert registry.default("dataset") == "mnist-5k"
    loaders = {
        name: registry.get("dataset", name).component.load.__module__
        for name in registry.names("dataset")
    }
    assert loaders == {
        "mnist-5k": "scratchlab.plugins.datasets.mnist_5k",
        "mnist": "scratchlab.plugins.datasets.mnist_pkl",
        "mnist-idx": "scratchlab.plugins.datasets.mnist_idx",
        "synthetic": "scratchlab.plugins.datasets.synthetic",
    }
    assert registry.get("dataset", "synthetic").component.params["n_train"] == 4000
    assert registry.get("dataset", "mnist-idx").component.params == {"directory": ""}
