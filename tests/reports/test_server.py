"""``reports/server.py``, what ``runner report`` serves: the app behind an ``st.App``
whose start-up hook imports what the first page needs before a browser asks for it
(issue 24 item 17). Each check runs in a fresh interpreter, so that nothing this test
session imported hides what the server imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from scratchlab.reports import browser

#: imports the first script run of the Sweeps page makes that cost most of its time
HEAVY = ("pandas", "pyarrow", "sqlalchemy", "altair")


def run_python(code: str, **env: str) -> dict:
    """Run ``code`` in a fresh interpreter; the JSON it prints last."""
    import os

    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_the_start_up_hook_imports_the_first_page_s_modules_beside_the_server():
    seen = run_python(
        """
import asyncio, json, sys, threading
from scratchlab.reports import server
before = [m for m in server.WARM_MODULES if m in sys.modules]
async def start():
    async with server.warm_lifespan(server.app):
        pass
asyncio.run(start())
for thread in threading.enumerate():
    if thread.name == "scratchlab-warm-imports":
        thread.join(300)
print(json.dumps({"before": before, "after": [m for m in server.WARM_MODULES if m in sys.modules]}))
"""
    )
    from scratchlab.reports.server import WARM_MODULES

    assert not set(HEAVY) & set(seen["before"])  # loading server.py itself stays light
    assert seen["after"] == list(WARM_MODULES)


def test_served_by_streamlit_run_the_warm_up_starts_on_import():
    """``streamlit run server.py`` imports the file as ``server`` (its folder on the path)
    to find ``app``: the warm-up starts then, beside Streamlit's own start-up."""
    seen = run_python(
        f"""
import json, sys, threading
sys.path.insert(0, {str(browser.SERVER.parent)!r})
import server
names = [t.name for t in threading.enumerate()]
server.start_warm_up().join(300)
print(json.dumps({{"threads": names, "after": [m for m in server.WARM_MODULES if m in sys.modules]}}))
"""
    )
    from scratchlab.reports.server import WARM_MODULES

    assert "scratchlab-warm-imports" in seen["threads"]
    assert seen["after"] == list(WARM_MODULES)


def first_page_imports(db_url: str, warm: bool) -> set[str]:
    """The modules the Sweeps page's first script run imports in a fresh interpreter
    that has imported streamlit (and, with ``warm``, run the warm-up first)."""
    seen = run_python(
        f"""
import json, sys
import streamlit
from streamlit.testing.v1 import AppTest
from scratchlab.reports import server
if {warm!r}:
    server.warm_imports()
before = set(sys.modules)
at = AppTest.from_file({str(browser.APP)!r}, default_timeout=120)
at.run()
assert not at.exception, at.exception
print(json.dumps(sorted(set(sys.modules) - before)))
""",
        SCRATCHLAB_DB=db_url,
    )
    return set(seen)


@pytest.mark.slow  # a subprocess or real sweep: tens of seconds on a busy machine
def test_after_the_warm_up_the_first_page_imports_nothing_heavy(sample_db):
    """Cold, the Sweeps page's first script run imports pandas, pyarrow, SQLAlchemy,
    Altair and our modules; after :func:`warm_imports` none of the heavy ones is left
    to import and at most a few small modules (a page that starts needing another
    heavy package, or many more modules, fails this test)."""
    cold = first_page_imports(sample_db.url, warm=False)
    assert set(HEAVY) <= {name.split(".")[0] for name in cold}
    warm = first_page_imports(sample_db.url, warm=True)
    left = sorted(n for n in warm if n in (*HEAVY, "numpy"))
    assert not left, left
    # a page may still load a few small modules lazily (pandas' to_dict, a new small module
    # of ours), not dozens: the views and the heavy packages' cores are warm
    small = sorted(n for n in warm if n.split(".")[0] in (*HEAVY, "numpy", "scratchlab"))
    assert len(small) <= 8, small


def test_runner_report_serves_the_warmed_app():
    from scratchlab.runner.cli.report import streamlit_command

    command = streamlit_command("sqlite:///runs.db", port=None, headless=True, address=None)
    assert command[4] == str(browser.SERVER)
