"""Stored text that hides or acts (issue 20, part 5): zero-width and bidi override
characters and ANSI escapes in a sweep name, a param, a metric name, a run's reason and
a plugin's description, written by a real plugin module through ``runner sweep``. Every
place that shows them (``runner runs``, ``show``, ``compare``, the progress lines,
``runner plugins``, the app's pages) shows them visibly escaped, and CSV header cells
made from metric names are neutralised as formulas (``runs --csv``, ``export``)."""

from __future__ import annotations

import csv
import io
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from streamlit.testing.v1 import AppTest

from scratchlab.runner.cli import cli

APP = Path(__file__).resolve().parents[2] / "reports" / "app.py"
MODULE = "hostiletext"
#: what must never reach a terminal or a page as itself
RAW = ("\u202e", "\u200b", "\x1b")
SWEEP_NAME = "sw\u202eeep\u200b\x1b[31m"
FORMULAS = ('=HYPERLINK("http://127.0.0.1:9/x","y")', "+cmd|' /C calc'!A0")

SOURCE = '''
"""A plugin whose param, metric names, reason and descriptions hold hostile characters."""

from scratchlab.plugins import Experiment, Matmul, hookimpl


def mm(a, b):
    return a @ b


def run(ctx):
    ctx.metric("acc\\u200b", 1.0)
    ctx.metric('=HYPERLINK("http://127.0.0.1:9/x","y")', 2.0)
    ctx.metric("+cmd|' /C calc'!A0", 3.0)
    if ctx.params["fail"]:
        raise RuntimeError("bad \\u202egnp.exe \\x1b[31mred\\u200b")


@hookimpl
def register_matmuls(register):
    register(Matmul(name="mm-hostile", fn=mm, description="\\x1b[31mred desc\\u202erev\\u200b"))


@hookimpl
def register_experiments(register):
    register(
        Experiment(
            name="hostile",
            run=run,
            params={"label": "x\\u202ey\\u200b", "fail": False},
            description="hostile \\x1b[2Jdesc\\u200b",
        )
    )
'''


def invoke(db: Path, *args: str) -> Result:
    """``runner --db <db> --plugin hostiletext ARGS`` in-process, at 100 columns."""
    return CliRunner().invoke(
        cli,
        ["--db", f"sqlite:///{db}", "--plugin", MODULE, *args],
        env={"COLUMNS": "100"},
        catch_exceptions=False,
    )


def assert_escaped(text: str, *escapes: str) -> None:
    """No hostile character in ``text`` as itself; each of ``escapes`` shown instead."""
    assert not [c for c in RAW if c in text], repr(text)
    for escape in escapes:
        assert escape in text, (escape, text)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> tuple[Path, Result]:
    """A database with a failed hostile run (sweep 1, named :data:`SWEEP_NAME`) and a done
    one (sweep 2), and the first sweep's own output."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / f"{MODULE}.py").write_text(textwrap.dedent(SOURCE))
    sys.path.insert(0, str(folder))
    db = folder / "runs.db"
    try:
        first = invoke(
            db, "sweep", "--experiments", "hostile", "--name", SWEEP_NAME, "-s", "hostile.fail=1"
        )
        assert first.exit_code == 1, first.output
        second = invoke(db, "sweep", "--experiments", "hostile", "--inline", "-q")
        assert second.exit_code == 0, second.output
        yield db, first
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop(MODULE, None)


def test_the_progress_lines_and_summary_escape_the_name_and_reason(hostile):
    _, first = hostile
    assert_escaped(first.output, "sw\\u202eeep\\u200b\\x1b[31m", "bad \\u202egnp.exe")


def test_runs_show_and_compare_escape_every_stored_name(hostile):
    db, _ = hostile
    runs = invoke(db, "runs", "--wide")
    assert runs.exit_code == 0, runs.output
    assert_escaped(runs.output, "acc\\u200b", "x\\u202ey\\u200b", "\\x1b[31mred")
    show = invoke(db, "show", "1")
    assert show.exit_code == 0, show.output
    assert_escaped(show.output, "sw\\u202eeep", "gnp.exe", "acc\\u200b")
    compare = invoke(db, "compare", "--sweep", "1", "--sweep", "2", "--metrics")
    assert compare.exit_code == 0, compare.output
    assert_escaped(compare.output, "acc\\u200b", "x\\u202ey\\u200b")


def test_plugins_escapes_descriptions(hostile):
    db, _ = hostile
    for args in (("plugins",), ("plugins", "--wide")):
        result = invoke(db, *args)
        assert result.exit_code == 0, result.output
        assert_escaped(result.output, "\\x1b[31mred desc\\u202erev")


@pytest.mark.parametrize(
    "args",
    [("runs", "--csv"), ("export", "--table", "runs"), ("runs", "--csv", "--sweep", "2")],
)
def test_csv_header_cells_from_metric_names_are_not_formulas(hostile, args):
    db, _ = hostile
    result = invoke(db, *args)
    assert result.exit_code == 0, result.output
    header = next(csv.reader(io.StringIO(result.stdout)))
    for formula in FORMULAS:
        assert "'" + formula in header, header
    assert not [cell for cell in header if cell[:1] in ("=", "+", "@")], header


def test_keep_formulas_writes_the_header_as_stored(hostile):
    db, _ = hostile
    result = invoke(db, "export", "--table", "runs", "--keep-formulas")
    assert FORMULAS[0] in next(csv.reader(io.StringIO(result.stdout)))


@pytest.mark.slow
def test_the_app_shows_hostile_text_escaped(hostile, monkeypatch):
    db, _ = hostile
    monkeypatch.setenv("SCRATCHLAB_DB", f"sqlite:///{db}")
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"sweep": "1"})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    # the sweeps page: the sweep's name in the table, the heading and the picker
    table = next(d.value for d in at.dataframe if "name" in d.value.columns)
    names = [str(name) for name in table["name"]]
    assert any("sw\\u202eeep\\u200b\\x1b[31m" in name for name in names), names
    heading = " ".join(str(s.value) for s in at.subheader)
    assert_escaped(heading, "u202eeep")
    assert_escaped(" ".join(str(o) for o in at.sidebar.multiselect[0].options), "u202e")
    # the run page: the reason as a block, the params table
    at.query_params.update({"run.id": "1"})
    at.switch_page("app_pages/run.py").run()
    assert not at.exception, [e.value for e in at.exception]
    reason = " ".join(str(c.value) for c in at.code)
    assert_escaped(reason, "bad \\u202egnp.exe \\x1b[31mred\\u200b")
    cells = " ".join(str(v) for d in at.dataframe for v in d.value.astype(str).to_numpy().ravel())
    assert_escaped(cells, "x\\u202ey\\u200b")
    # the runs page: every cell of its table
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    page = " ".join(
        [str(v) for d in at.dataframe for v in d.value.astype(str).to_numpy().ravel()]
        + [str(c) for d in at.dataframe for c in d.value.columns]
    )
    assert_escaped(page, "acc\\u200b")
