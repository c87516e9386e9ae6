"""``synthetic``: seeded Gaussian blobs of any size, for timing and tests."""

from __future__ import annotations

import numpy as np

from scratchlab.plugins import DataSplits
from scratchlab.plugins.datasets.common import DatasetError, normalised_splits


def load_synthetic(
    *,
    n_train: int = 4000,
    n_valid: int = 1000,
    n_classes: int = 10,
    n_features: int = 784,
    spread: float = 1.0,
    seed: int = 0,
) -> DataSplits:
    """Gaussian blobs: one standard-normal centre per class, points at ``spread`` std around it.

    Classes are balanced (round robin, then shuffled); the same params always
    give the same data, independent of the global RNG.
    """
    for name, value, low in (
        ("n_train", n_train, 1),
        ("n_valid", n_valid, 1),
        ("n_classes", n_classes, 2),
        ("n_features", n_features, 1),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise DatasetError(f"synthetic: {name} must be an integer >= {low}, got {value!r}")
    if isinstance(spread, bool) or not isinstance(spread, (int, float)) or not spread >= 0:
        raise DatasetError(f"synthetic: spread must be a number >= 0, got {spread!r}")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, n_features))

    def blobs(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = rng.permutation(np.arange(n) % n_classes)
        points = centres[labels] + spread * rng.standard_normal((n, n_features))
        return points.astype(np.float32), labels

    x_train, y_train = blobs(n_train)
    x_valid, y_valid = blobs(n_valid)
    return normalised_splits(
        x_train,
        y_train,
        x_valid,
        y_valid,
        n_classes=n_classes,
        info={"dataset": "synthetic", "seed": seed, "n_train": n_train, "n_valid": n_valid},
    )
