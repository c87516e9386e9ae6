"""The four original IDX files, gzipped or not; one line naming a missing or bad file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from scratchlab.plugins.datasets import mnist_idx
from scratchlab.plugins.datasets.common import DatasetError
from scratchlab.plugins.datasets.mnist_idx import load_mnist_idx


def write_idx(path: Path, array: np.ndarray, code: int = 0x08) -> None:
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(mnist_idx.IDX_DTYPES[code]).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_idx_dir(root: Path, n_train=120, n_valid=40) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_valid, 28, 28)),  # not gzipped
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_valid),
    }
    for name, array in arrays.items():
        write_idx(root / name, array)
    return arrays


def test_mnist_idx_reads_the_four_files_gz_or_not(tmp_path):
    arrays = write_idx_dir(tmp_path)
    data = load_mnist_idx(directory=str(tmp_path))
    assert data.x_train.shape == (120, 784) and data.x_valid.shape == (40, 784)
    assert data.y_train.tolist() == arrays["train-labels-idx1-ubyte.gz"].tolist()
    pixels = arrays["t10k-images-idx3-ubyte"].reshape(40, 784) / 255
    torch.testing.assert_close(
        data.x_valid * data.std + data.mean, torch.tensor(pixels, dtype=torch.float32)
    )


def test_mnist_idx_missing_file_and_directory(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        load_mnist_idx(directory=str(tmp_path))
    with pytest.raises(DatasetError, match="directory"):
        load_mnist_idx()
    with pytest.raises(DatasetError, match="is not a directory"):
        load_mnist_idx(directory=str(tmp_path / "nope"))


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-100],  # truncated
        lambda data: b"\x1f\x8b" + data[2:],  # bad magic
    ],
    ids=["truncated", "bad-magic"],
)
def test_mnist_idx_bad_file_names_it(tmp_path, damage, one_line_naming):
    write_idx_dir(tmp_path)
    file = tmp_path / "t10k-images-idx3-ubyte"
    file.write_bytes(damage(file.read_bytes()))
    with pytest.raises(DatasetError) as exc:
        load_mnist_idx(directory=str(tmp_path))
    one_line_naming(exc, file)


def test_mnist_idx_mismatched_counts(tmp_path):
    write_idx_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(39))
    with pytest.raises(DatasetError, match="expected"):
        load_mnist_idx(directory=str(tmp_path))
