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


LINKED = """
import streamlit as st

from scratchlab.reports import ui

ui.remembered("demo.n", "a")
value = st.text_input("n", key="demo.n")
ui.publish("demo.n", value, "a")
st.markdown(f"shown: {value}")
"""


def test_a_changed_link_is_shown_and_a_widget_choice_is_kept():
    """A link opens its value; a widget's change stays over later reruns; the URL changed by
    Back, Forward or an in-app link (not by a widget) shows its value again; a link without
    the key keeps the choice."""

    def shown(at: AppTest) -> str:
        assert not at.exception, [e.value for e in at.exception]
        return at.markdown[0].value

    at = AppTest.from_string(LINKED, default_timeout=30)
    at.query_params["demo.n"] = "b"
    assert shown(at.run()) == "shown: b"
    at.text_input[0].set_value("c").run()
    assert shown(at) == "shown: c" and at.query_params["demo.n"] in ("c", ["c"])
    assert shown(at.run()) == "shown: c"  # the widget's choice is not undone by the link
    at.query_params["demo.n"] = "b"  # Back: the URL says b again
    assert shown(at.run()) == "shown: b"
    del at.query_params["demo.n"]  # a sidebar page switch drops the key
    assert shown(at.run()) == "shown: b"
