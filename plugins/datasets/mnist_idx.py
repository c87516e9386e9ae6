"""``mnist-idx``: the four original MNIST IDX files (gzipped or not) from a directory."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from scratchlab.plugins import DataSplits
from scratchlab.plugins.datasets.common import DatasetError, normalised_splits, read_file

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
