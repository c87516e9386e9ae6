"""What a local Dask cluster sets in its driver's environment for its workers is put back when
it closes, except what was changed since (``runner/daskstart.py``; the whole sweep is in
``test_daskbackend.py``)."""

from __future__ import annotations

import os

import pytest

from scratchlab.runner import daskstart

NAMES = ("MKL_NUM_THREADS", "OMP_NUM_THREADS", "PYTHONHASHSEED")


@pytest.fixture
def unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(daskstart, "_SET_FOR_WORKERS", {})


def test_what_was_set_for_the_workers_is_put_back(unset, monkeypatch):
    monkeypatch.setenv("PYTHONHASHSEED", "0")
    daskstart._set_for_workers("OMP_NUM_THREADS", "1")
    daskstart._set_for_workers("PYTHONHASHSEED", daskstart.NANNY_HASH_SEED)
    assert os.environ["OMP_NUM_THREADS"] == "1"
    daskstart.let_go_of_driver("spawn")
    assert "OMP_NUM_THREADS" not in os.environ
    assert os.environ["PYTHONHASHSEED"] == "0"


def test_a_variable_changed_since_is_left_as_it_is_now(unset, monkeypatch):
    """A sweep that ended before its cluster started left its values set; the user then set one
    of their own: the next cluster's close puts back only what still has the value it set."""
    daskstart._set_for_workers("MKL_NUM_THREADS", "1")
    daskstart._set_for_workers("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "3")
    daskstart.let_go_of_driver("spawn")
    assert os.environ["MKL_NUM_THREADS"] == "3"
    assert "OMP_NUM_THREADS" not in os.environ


def test_a_sweep_that_ends_before_its_cluster_starts_puts_the_environment_back(unset, sweep):
    pytest.importorskip("distributed")
    before = dict(os.environ)
    result = sweep("--experiments", "not-an-experiment", "--scheduler", "local", "--workers", "2")
    assert result.exit_code == 2  # a usage error, after the forkserver started early
    assert {k: v for k, v in os.environ.items() if k != "__DASK_PARENT_PID"} == {
        k: v for k, v in before.items() if k != "__DASK_PARENT_PID"
    }
