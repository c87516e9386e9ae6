"""The lessons' mnist.pkl.gz: from a path, the cache or a download, checked, and one line
naming the file for a wrong, truncated or hostile one."""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from scratchlab.plugins.datasets.common import DatasetError
from scratchlab.plugins.datasets.mnist_pkl import load_mnist


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


def test_checksum_mismatch_refuses_the_file(tmp_path, one_line_naming):
    file = write_mnist_pkl(tmp_path / "mnist.pkl.gz")
    with pytest.raises(DatasetError, match=r"checksum mismatch.*refusing") as exc:
        load_mnist(path=str(file), sha256="ab" * 32)
    one_line_naming(exc, file)
    assert load_mnist(path=str(file), sha256=sha256(file).upper()).x_train.shape == (300, 784)


def test_truncated_file_names_the_file(tmp_path, one_line_naming):
    whole = write_mnist_pkl(tmp_path / "whole.pkl.gz").read_bytes()
    file = tmp_path / "mnist.pkl.gz"
    file.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DatasetError, match="not a valid") as exc:
        load_mnist(path=str(file))
    one_line_naming(exc, file)


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
def test_wrong_file_names_the_file(tmp_path, write, one_line_naming):
    file = tmp_path / "mnist.pkl.gz"
    write(file)
    with pytest.raises(DatasetError) as exc:
        load_mnist(path=str(file))
    one_line_naming(exc, file)


class _Payload:
    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (os.mkdir, (str(self.target),))


def test_a_pickle_that_runs_code_is_refused_without_running_it(tmp_path, one_line_naming):
    marker = tmp_path / "pwned"
    file = write_mnist_pkl(tmp_path / "mnist.pkl.gz", _Payload(marker))
    with pytest.raises(DatasetError, match=r"refers to .*mkdir") as exc:
        load_mnist(path=str(file))
    one_line_naming(exc, file)
    assert not marker.exists()


def test_missing_path_and_empty_cache_without_url(tmp_path, one_line_naming):
    with pytest.raises(DatasetError, match="does not exist") as exc:
        load_mnist(path=str(tmp_path / "absent.pkl.gz"))
    one_line_naming(exc, tmp_path / "absent.pkl.gz")
    with pytest.raises(DatasetError, match="no url"):
        load_mnist(cache_dir=str(tmp_path), url="")


def test_labels_out_of_range_are_refused(tmp_path):
    (xt, yt), valid, test = mnist_arrays()
    yt = yt.copy()
    yt[0] = 12
    file = write_mnist_pkl(tmp_path / "mnist.pkl.gz", ((xt, yt), valid, test))
    with pytest.raises(DatasetError, match=r"labels must lie in 0\.\.9"):
        load_mnist(path=str(file))
