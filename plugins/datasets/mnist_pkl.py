"""``mnist``: the lessons' ``mnist.pkl.gz`` (50,000/10,000), from a path, a cache
directory or a download, with an optional sha256 check. The pickle is read with an
unpickler that only accepts numpy arrays, so a hostile file cannot run code."""

from __future__ import annotations

import gzip
import importlib.util
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from scratchlab.plugins import DataSplits
from scratchlab.plugins.datasets.common import (
    DatasetError,
    normalised_splits,
    read_file,
    verify_sha256,
)

MNIST_URL = "https://github.com/pytorch/tutorials/raw/main/_static/mnist.pkl.gz"
MNIST_FILENAME = "mnist.pkl.gz"


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/scratchlab``, else ``~/.cache/scratchlab``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "scratchlab"


#: numpy's core package: ``numpy._core`` since numpy 2, ``numpy.core`` before
NUMPY_CORE = "numpy._core" if importlib.util.find_spec("numpy._core") else "numpy.core"


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and nothing else, so a data file cannot run code.

    ``mnist.pkl.gz`` was written by Python 2's numpy, which named its core
    package ``numpy.core``; newer numpy calls it ``numpy._core``, so both
    spellings resolve to whichever this numpy has.
    """

    #: (module, name) a pickled array may refer to; ``core.`` is numpy's core package
    ALLOWED: frozenset[tuple[str, str]] = frozenset(
        {
            ("core.multiarray", "_reconstruct"),
            ("core.multiarray", "scalar"),
            ("core.numeric", "_frombuffer"),  # protocol 5
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("_codecs", "encode"),  # bytes in protocol 2 pickles
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        """Resolve only the globals a pickled numpy array needs."""
        key = module
        for prefix in ("numpy.core.", "numpy._core."):
            if module.startswith(prefix):
                key = "core." + module[len(prefix) :]
                module = f"{NUMPY_CORE}.{key[len('core.') :]}"
        if (key, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"it refers to {module}.{name}, which a numpy data file never needs"
            )
        return super().find_class(module, name)


def _check_pair(x: Any, y: Any, split: str) -> tuple[np.ndarray, np.ndarray]:
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray)):
        raise DatasetError(f"the {split} split is not a pair of numpy arrays")
    if x.ndim != 2 or x.shape[1] != 784 or y.shape != (x.shape[0],):
        raise DatasetError(
            f"the {split} split has shapes {x.shape} and {y.shape}, expected (n, 784) and (n,)"
        )
    return x, y


def read_mnist_pkl(path: Path) -> tuple[np.ndarray, ...]:
    """Parse ``((x_train, y_train), (x_valid, y_valid), (x_test, y_test))`` from a gzipped pickle."""
    with gzip.open(path, "rb") as f:
        data = NumpyOnlyUnpickler(f, encoding="latin-1").load()
    try:
        (x_train, y_train), (x_valid, y_valid), _ = data
    except (TypeError, ValueError):
        raise DatasetError(
            f"mnist: {path} does not hold ((x_train, y_train), (x_valid, y_valid), (x_test, y_test))"
        ) from None
    try:
        return (*_check_pair(x_train, y_train, "train"), *_check_pair(x_valid, y_valid, "valid"))
    except DatasetError as exc:
        raise DatasetError(f"mnist: {path}: {exc}") from None


def download(url: str, target: Path, sha256: str, dataset: str) -> None:
    """Fetch ``url`` into ``target`` atomically; a failed or mismatching download leaves nothing behind."""
    import http.client
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
        verify_sha256(tmp, sha256, dataset)
        os.replace(tmp, target)
    except DatasetError:
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        raise DatasetError(
            f"{dataset}: could not download {url}: {getattr(exc, 'reason', None) or exc}; "
            f"pass a local file with -s {dataset}.path=FILE"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def locate_mnist(path: str, cache_dir: str, url: str, sha256: str) -> tuple[Path, str]:
    """Find ``mnist.pkl.gz``: an explicit path, else the cache, else download into the cache.

    Returns the file and where it came from (``path``, ``cache`` or ``download``).
    """
    if path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise DatasetError(f"mnist: {file} does not exist")
        return file, "path"
    file = (Path(cache_dir).expanduser() if cache_dir else default_cache_dir()) / MNIST_FILENAME
    if file.is_file():
        return file, "cache"
    if not url:
        raise DatasetError(f"mnist: {file} is not there and no url is set to download it from")
    download(url, file, sha256, "mnist")
    return file, "download"


def load_mnist(
    *, path: str = "", cache_dir: str = "", url: str = MNIST_URL, sha256: str = ""
) -> DataSplits:
    """The lessons' ``mnist.pkl.gz``: 50,000 training and 10,000 validation digits in [0, 1]."""
    file, origin = locate_mnist(path, cache_dir, url, sha256)
    digest = verify_sha256(file, sha256, "mnist")
    x_train, y_train, x_valid, y_valid = read_file(file, read_mnist_pkl, "mnist", "mnist.pkl.gz")
    return normalised_splits(
        x_train,
        y_train,
        x_valid,
        y_valid,
        n_classes=10,
        info={
            "dataset": "mnist",
            "file": str(file),
            "origin": origin,
            "sha256": digest,
            "n_train": len(y_train),
            "n_valid": len(y_valid),
        },
    )
