"""``ui.query`` takes the query function itself: each function gets its own cache
entries (two functions with the same arguments never share a result), and a
repeated call with the same arguments reads the cache, not the database."""

from __future__ import annotations

import sys
import textwrap

from streamlit.testing.v1 import AppTest

PAGE = """
import streamlit as st

import cachedqueries
from scratchlab.db import queries
from scratchlab.reports import ui

st.cache_data.clear()
for function in (cachedqueries.first, cachedqueries.second, cachedqueries.first):
    st.markdown(ui.query(function, 7))
st.markdown(f"runs: {int(ui.query(queries.count_runs))}")
"""


def test_queries_are_cached_per_function_and_arguments(sample_db, tmp_path, monkeypatch):
    calls = tmp_path / "calls.txt"
    (tmp_path / "cachedqueries.py").write_text(
        textwrap.dedent(
            f"""
            CALLS = {str(calls)!r}

            def first(store, n):
                with open(CALLS, "a") as f:
                    f.write("first\\n")
                return f"first of {{n}}"

            def second(store, n):
                with open(CALLS, "a") as f:
                    f.write("second\\n")
                return f"second of {{n}}"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("SCRATCHLAB_DB", sample_db.url)
    monkeypatch.setattr(sys, "argv", ["app"])
    at = AppTest.from_string(PAGE, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = [m.value for m in at.markdown]
    assert shown[:3] == ["first of 7", "second of 7", "first of 7"]
    assert shown[3].startswith("runs: ") and int(shown[3].split()[1]) > 0
    assert calls.read_text().split() == ["first", "second"]  # the third call was cached
