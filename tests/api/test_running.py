"""``sl.sweep``: every registered category is a keyword, as every one is a ``runner sweep`` option."""

from __future__ import annotations

import pytest

import scratchlab as sl


@pytest.mark.slow
def test_a_category_a_builtin_plugin_adds_narrows_the_sweep(tmp_path):
    sweep = sl.sweep(
        plugins=["optimizer"],
        experiments=["train"],
        optimizer=["sgd", "adam"],
        dataset="synthetic",
        settings={"train.epochs": 1, "synthetic.n_train": 256, "synthetic.n_valid": 64},
        db=tmp_path / "runs.db",
        inline=True,
        progress=False,
    )
    assert sweep.status == "done", sweep
    runs = sweep.runs()
    assert sorted(runs["optimizer"]) == ["adam", "sgd"]
    assert set(runs["dataset"]) == {"synthetic"}


def test_a_keyword_that_is_no_category_lists_every_registered_one(tmp_path):
    with pytest.raises(TypeError, match="unknown keyword optimiser") as raised:
        sl.sweep(plugins=["optimizer"], optimiser=["adam"], db=tmp_path / "runs.db")
    assert all(c in str(raised.value) for c in ("optimizer", "schedule", "norm", "matmul"))
    assert not (tmp_path / "runs.db").exists()
