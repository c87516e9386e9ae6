"""Where a page looks for its data when the user has not chosen a sweep."""

from __future__ import annotations

from scratchlab.core.records import MetricRecord, PlannedRun, RunResult, StatRecord
from scratchlab.db import open_store
from scratchlab.reports.lookups import data_scope


def test_pages_default_to_the_newest_sweep_that_has_their_data(tmp_path):
    stat = StatRecord("deep", 1, "linear1", 0.0, 1.0, -1.0, 1.0, 0.0, 0.0)
    with open_store(f"sqlite:///{tmp_path / 'runs.db'}") as store:
        sweeps = []
        for name, experiment, result in [
            ("old", "init-stats", RunResult("done", stats=[stat])),
            (
                "mid",
                "train",
                RunResult("done", stats=[stat], metrics=[MetricRecord("loss", 1.0, 0)]),
            ),
            ("new", "train", RunResult("done", metrics=[MetricRecord("loss", 1.0, 0)])),
        ]:
            sweep_id = store.create_sweep(name, ["runner"], {}, {})
            ids = store.add_runs(sweep_id, [PlannedRun(name, experiment, {}, {})])
            store.write_result(ids[name], result)
            sweeps.append(sweep_id)
        old, mid, new = sweeps

        assert data_scope(store, "stats") == ([mid], ["train"])  # "new" has no statistics
        assert data_scope(store, "curves") == ([new], ["train"])
        assert data_scope(store, "stats", experiments=["init-stats"]) == ([old], ["init-stats"])
        # chosen sweeps are kept, with the experiments that have such data in any of them
        assert data_scope(store, "stats", sweep_ids=[old, new]) == ([old, new], ["init-stats"])
        assert data_scope(store, "timings") == ([], [])
