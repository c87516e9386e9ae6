"""Which database the app opens: ``--db`` after ``--``, else ``SCRATCHLAB_DB``,
else ``runs.db`` in the working directory (the one rule,
:func:`scratchlab.db.engine.resolve_url`)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from scratchlab.db.engine import resolve_url


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
    return resolve_url(known.db, environ, cwd)
