"""A run's data and randomness: datasets loaded once per process, moved to the
run's device, and every RNG seeded (or left as it was) around them.

torch and numpy are imported inside functions only.
"""

from __future__ import annotations

import collections
import contextlib
import random
from collections.abc import Iterator
from typing import Any

from scratchlab.plugins.types import Component, DataSplits

#: (dataset name, version, params) -> DataSplits on the CPU; a few entries at most
_DATA_CACHE: collections.OrderedDict[tuple, DataSplits] = collections.OrderedDict()
_DATA_CACHE_SIZE = 4


def load_dataset(dataset: Component, version: str) -> DataSplits:
    """Load ``dataset`` (bound) once per process per (name, version, params).

    The loader runs with the global RNG states saved and restored, so whether
    the data came from the cache or not, the run that follows sees the same
    random numbers.
    """
    key = (dataset.name, version, tuple(sorted((k, repr(v)) for k, v in dataset.params.items())))
    if key in _DATA_CACHE:
        _DATA_CACHE.move_to_end(key)
        return _DATA_CACHE[key]
    with preserved_rng():
        splits = dataset.load()
    if not isinstance(splits, DataSplits):
        raise TypeError(
            f"dataset {dataset.name!r} returned {type(splits).__name__}, not DataSplits"
        )
    _DATA_CACHE[key] = splits
    while len(_DATA_CACHE) > _DATA_CACHE_SIZE:
        _DATA_CACHE.popitem(last=False)
    return splits


def cached_bytes() -> int:
    """Bytes of the dataset splits this process keeps between runs (memory the runner itself
    holds, which a run that loaded a dataset is not to blame for)."""
    return sum(
        t.element_size() * t.nelement()
        for splits in _DATA_CACHE.values()
        for t in (splits.x_train, splits.y_train, splits.x_valid, splits.y_valid)
        if hasattr(t, "element_size")
    )


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Restore python's, numpy's and torch's (CPU and CUDA) RNG states afterwards."""
    import numpy as np
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(
        devices=range(torch.cuda.device_count()) if torch.cuda.is_available() else []
    ):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def move_splits(splits: DataSplits, device: Any, dtype: Any) -> DataSplits:
    """The splits with features on ``device`` as ``dtype`` and labels on ``device`` (int64 kept)."""
    import dataclasses

    return dataclasses.replace(
        splits,
        x_train=splits.x_train.to(device=device, dtype=dtype),
        y_train=splits.y_train.to(device=device),
        x_valid=splits.x_valid.to(device=device, dtype=dtype),
        y_valid=splits.y_valid.to(device=device),
    )


def seed_everything(seed: int) -> None:
    """Seed python's ``random``, numpy and torch (every CUDA device too) from ``seed``."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device
