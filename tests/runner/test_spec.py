"""The sweep spec as stored with a sweep: its JSON round trip, and specs stored by
older versions read back as they were planned."""

from __future__ import annotations

import json

from scratchlab.runner.spec import MAX_PLAN_RUNS, Include, SweepSpec


def test_a_spec_survives_its_json_round_trip():
    spec = SweepSpec(
        plugins=("matmul",),
        components={"init": ("a", "b")},
        experiments=("train",),
        devices=("cpu", "cuda"),
        dtype="float64",
        repeat=3,
        seed=5,
        settings={"train": {"lr": "0.1"}},
        includes=(Include("train", {"matmul": "torch"}, {"lr": 1}),),
        data_path="/d",
        only_keys=("k",),
        plugin_modules=("mod",),
        threads=(None, 2),
        deterministic=True,
        max_runs=5,
    )
    assert SweepSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


def test_a_spec_stored_before_limits_and_thread_counts_reads_back_as_it_was_planned():
    stored = {"plugins": ["matmul"], "experiments": None, "repeat": 2}
    spec = SweepSpec.from_json(stored)
    # planned whole, at the thread count each run got: no limit to resume it, threads auto
    assert spec.max_runs == MAX_PLAN_RUNS
    assert spec.threads == (None,) and spec.deterministic is False
    assert (spec.plugins, spec.experiments, spec.devices, spec.repeat) == (
        ("matmul",),
        None,
        ("cpu",),
        2,
    )
