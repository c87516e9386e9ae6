"""Preparing a resume from the stored sweep alone: its unfinished runs matched to the
current plan by key, nothing written; a run the plan no longer has is refused."""

from __future__ import annotations

import dataclasses

import pytest

from scratchlab.db import open_store
from scratchlab.plugins.manager import load_plugins
from scratchlab.runner.plan import plan
from scratchlab.runner.spec import SweepSpec
from scratchlab.runner.sweep_prepare import prepare_resume
from scratchlab.runner.sweeping import SweepError

SPEC = SweepSpec(experiments=("matmul",), components={"matmul": ("torch", "einsum")})


@pytest.fixture
def stored(tmp_path):
    """A store holding SPEC's sweep, its runs pending, and the plugins it was planned with."""
    plugins = load_plugins(strict=True, disabled=())
    runs = plan(SPEC, plugins.registry)
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        sweep_id = store.create_sweep("mm", ["runner", "sweep"], SPEC.to_json(), {})
        yield store, sweep_id, plugins, runs


def test_a_resume_prepares_the_unfinished_runs_by_key(stored):
    store, sweep_id, plugins, runs = stored
    ids = store.add_runs(sweep_id, runs)
    store.mark_status([ids[runs[0].key]], "done")
    prepared = prepare_resume(store, sweep_id, plugins)
    assert [r.key for r in prepared.runs] == [runs[1].key]
    assert prepared.run_ids == [ids[runs[1].key]]
    assert (prepared.sweep_id, prepared.name, prepared.note) == (sweep_id, "mm", None)
    assert prepared.title == f"sweep {sweep_id} (mm), resumed"
    store.mark_status([ids[runs[1].key]], "done")
    finished = prepare_resume(store, sweep_id, plugins)
    assert finished.runs == [] and finished.note.endswith(
        "every run is done or skipped; nothing to run"
    )


def test_an_unfinished_run_the_plan_no_longer_has_is_refused(stored):
    store, sweep_id, plugins, runs = stored
    changed = dataclasses.replace(runs[0], key="0" * 64)  # as if its code changed since
    store.add_runs(sweep_id, [changed, runs[1]])
    with pytest.raises(SweepError, match="1 of its 2 unfinished runs no longer match the plan"):
        prepare_resume(store, sweep_id, plugins)
