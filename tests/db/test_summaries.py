"""The data version (db.summaries.data_version) that keys the app's query cache."""

from __future__ import annotations

from scratchlab.db import open_store
from scratchlab.db.annotations import add_tags, remove_tags
from scratchlab.db.summaries import data_version


def test_a_new_tag_changes_the_data_version(analysis_db):
    """A tag added since must show at once in the app's tag filter."""
    with open_store(analysis_db) as store:
        before = data_version(store)
        add_tags(store, "sweep", [1], ["fresh"])
        tagged = data_version(store)
        add_tags(store, "run", [2], ["fresh"])
        assert before != tagged != data_version(store)
        remove_tags(store, "run", [2], ["fresh"])
        assert data_version(store) == tagged
