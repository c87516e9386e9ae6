"""Tags and notes on runs and sweeps, and ``tag=T`` in the one run filter."""

from __future__ import annotations

import pytest

from scratchlab.db import open_store, queries
from scratchlab.db.annotations import (
    add_tags,
    check_tag,
    notes,
    remove_tags,
    run_tags,
    set_note,
    sweep_tags,
    tag_names,
)
from scratchlab.db.errors import InvalidValueError, RunNotFoundError, SweepNotFoundError
from scratchlab.db.filters import FilterError, RunFilter, parse_where


@pytest.fixture
def store(db_url, db_samples):
    """Two sweeps of two runs each (run ids 1, 2 in sweep 1; 3, 4 in sweep 2)."""
    with open_store(db_url) as store:
        for sweep in ("first", "second"):
            sweep_id = store.create_sweep(sweep, ["runner"], {}, {})
            store.add_runs(
                sweep_id,
                [db_samples.planned_run(f"{sweep}{i}", lr=0.1 * (i + 1)) for i in range(2)],
            )
        yield store


def _ids(store, *where: str) -> list[int]:
    return list(queries.list_runs(store, parse_where(where))["run_id"])


def test_a_run_tag_and_a_sweep_tag_both_filter_and_the_sweep_tag_reaches_later_runs(
    store, db_samples
):
    assert add_tags(store, "run", [1], ["best", "best", " check "]) == 2
    assert add_tags(store, "run", [1], ["best"]) == 0  # kept once
    add_tags(store, "sweep", [2], ["baseline"])
    store.add_runs(
        2, [db_samples.planned_run("added-later")]
    )  # a search adds a trial after the tag

    assert _ids(store, "tag=best") == [1]
    assert _ids(store, "tag=baseline") == [3, 4, 5]
    assert _ids(store, "tag=best,baseline") == [1, 3, 4, 5]
    assert _ids(store, "tag!=baseline") == [1, 2]
    assert _ids(store, "tag=best", "tag=check") == [1]  # AND
    assert queries.count_runs(store, RunFilter(tags="baseline")) == 3
    assert run_tags(store, [1, 2, 3]) == {1: ["best", "check"], 3: ["baseline"]}
    assert sweep_tags(store) == {2: ["baseline"]}
    assert tag_names(store) == ["baseline", "best", "check"]

    assert remove_tags(store, "run", [1], ["check"]) == 1
    assert _ids(store, "tag=check") == []


def test_a_note_is_set_replaced_and_cleared(store):
    set_note(store, 2, "  diverged: lr too high\\nsecond line ")
    assert notes(store, [1, 2]) == {2: "diverged: lr too high\\nsecond line"}
    set_note(store, 2, "")
    assert notes(store, [2]) == {}


def test_wrong_ids_and_bad_tags_change_nothing(store):
    with pytest.raises(RunNotFoundError, match="no run 9, 10"):
        add_tags(store, "run", [1, 9, 10], ["x"])
    with pytest.raises(SweepNotFoundError, match="no sweep 7"):
        add_tags(store, "sweep", [7], ["x"])
    with pytest.raises(RunNotFoundError, match="no run 99"):
        set_note(store, 99, "text")
    assert tag_names(store) == []
    for bad, message in (
        ("", "empty"),
        ("a,b", "comma"),
        ("a\nb", "control"),
        ("x" * 65, "at most"),
    ):
        with pytest.raises(InvalidValueError, match=message):
            check_tag(bad)
    with pytest.raises(FilterError, match="tags are text"):
        parse_where(["tag>3"])


def test_a_tag_filter_reads_as_words(store):
    assert "tag=best" in parse_where(["tag=best"]).describe()
    assert parse_where(["tag=a"]).narrowed(tags="b") == RunFilter(tags=["a"]).narrowed(
        RunFilter(tags="b")
    )
