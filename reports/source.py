"""Which database the app opens: ``--db`` after ``--``, else ``SCRATCHLAB_DB``,
else ``runs.db`` in the working directory."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

#: environment variable naming the database, shared with ``runner --db``
ENV_VAR = "SCRATCHLAB_DB"

#: file used when nothing names a database
DEFAULT_FILE = "runs.db"


def as_url(value: str, cwd: Path | None = None) -> str:
    """A SQLAlchemy URL for ``value``: URLs pass through, a plain file path becomes
    ``sqlite:///<absolute path>`` (so ``-- --db results/runs.db`` works too)."""
    if "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    return f"sqlite:///{path}"


def resolve_db_url(
    argv: Sequence[str], environ: Mapping[str, str] | None = None, cwd: Path | None = None
) -> str:
    """The database URL from the script's arguments (``--db URL``, as passed by
    ``streamlit run app.py -- --db URL``), then ``SCRATCHLAB_DB``, then
    ``runs.db`` in ``cwd``. Arguments it does not know are ignored (under
    AppTest, ``sys.argv`` is pytest's)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--db")
    known, _ = parser.parse_known_args(list(argv))
    environ = os.environ if environ is None else environ
    value = known.db or environ.get(ENV_VAR) or DEFAULT_FILE
    return as_url(value, cwd)
