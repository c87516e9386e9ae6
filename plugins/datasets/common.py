"""What every built-in dataset loader shares: the one-line :class:`DatasetError`, the
normalised tensor splits every loader returns, and reading a user's file (checksum,
parse failures as one line naming the file)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.plugins import DataSplits
from scratchlab.plugins.lazytorch import torch


class DatasetError(ValueError):
    """A dataset could not be loaded; the message is one line naming the file or param."""


def normalised_splits(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_valid: np.ndarray,
    y_valid: np.ndarray,
    n_classes: int,
    info: dict[str, Any],
) -> DataSplits:
    """Turn arrays into tensors, features normalised with the training split's mean and std.

    Labels outside ``0..n_classes-1`` and a constant training split are refused.
    """
    name = info.get("dataset", "dataset")
    for split, labels in (("train", y_train), ("valid", y_valid)):
        if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
            raise DatasetError(
                f"{name}: {split} labels must lie in 0..{n_classes - 1}, found {labels.min()}..{labels.max()}"
            )
    # torch.tensor copies: the caller's arrays stay untouched
    xt = torch.tensor(x_train, dtype=torch.float32)
    xv = torch.tensor(x_valid, dtype=torch.float32)
    mean, std = xt.mean().item(), xt.std().item()
    if not std > 0:
        raise DatasetError(f"{name}: the training split is constant (std {std}); cannot normalise")
    return DataSplits(
        x_train=xt.sub_(mean).div_(std),
        y_train=torch.tensor(y_train, dtype=torch.int64),
        x_valid=xv.sub_(mean).div_(std),
        y_valid=torch.tensor(y_valid, dtype=torch.int64),
        n_classes=n_classes,
        mean=mean,
        std=std,
        info=info,
    )


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: Path, expected: str, dataset: str) -> str:
    """Return the file's sha256; refuse the file when ``expected`` is given and differs."""
    actual = sha256_of(path)
    if expected and actual != expected.strip().lower():
        raise DatasetError(
            f"{dataset}: checksum mismatch for {path}: sha256 is {actual}, expected {expected}; "
            "refusing the file (delete it or pass the right sha256)"
        )
    return actual


def read_file(
    path: Path, reader: Callable[[Path], tuple[np.ndarray, ...]], dataset: str, kind: str
) -> tuple[np.ndarray, ...]:
    """``reader(path)``, with any failure to parse turned into a :class:`DatasetError`
    that names the file and says it is not a valid ``kind``.

    Nothing is cached here: the run context keeps each loaded dataset per
    process (``scratchlab.runner.rundata.load_dataset``).
    """
    try:
        return reader(path)
    except DatasetError:
        raise
    except OSError as exc:
        raise DatasetError(f"{dataset}: cannot read {path}: {exc.strerror or exc}") from None
    except Exception as exc:  # any parse failure of a user's file is the file's fault
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, EOFError):
            detail = f"truncated: {detail}"
        raise DatasetError(f"{dataset}: {path} is not a valid {kind} ({detail})") from None
