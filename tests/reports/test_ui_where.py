"""A ``where`` typo in the app's sidebar (issue 24, item 16): said beside the box with
the closest name, while the page goes on showing its runs instead of one error."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from scratchlab.reports import browser


def test_a_where_typo_is_one_sidebar_line_with_a_suggestion_and_the_runs_stay(
    sample_db, monkeypatch
):
    monkeypatch.setenv("SCRATCHLAB_DB", sample_db.url)
    at = AppTest.from_file(str(browser.APP), default_timeout=90)
    at.query_params.update({"where": "valid_acuracy>0.5"})
    at.run()
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar = [e.value for e in at.sidebar.error]
    assert len(sidebar) == 1 and "did you mean" in sidebar[0] and "valid" in sidebar[0]
    assert "accuracy" in sidebar[0].replace("\\", "")
    assert not at.main.error, [e.value for e in at.main.error]
    assert at.dataframe and len(at.dataframe[0].value) > 0  # the runs, unfiltered
