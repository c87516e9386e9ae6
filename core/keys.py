"""Names more than one layer agrees on: the default database and keys in stored JSON.

Each lives here once so the engine, the reports, the CLI and the notebook API
read the same value without importing each other.
"""

from __future__ import annotations

#: environment variable naming the results database (``runner --db``'s default)
DB_ENV_VAR = "SCRATCHLAB_DB"

#: the database used when neither ``--db`` nor ``SCRATCHLAB_DB`` names one:
#: ``runs.db`` in the working directory
DEFAULT_DB_FILE = "runs.db"

#: the same default as a SQLAlchemy URL, as ``runner --help`` shows it
DEFAULT_DB = f"sqlite:///{DEFAULT_DB_FILE}"

#: key of a sweep's stored spec holding ``{experiment: headline patterns}``,
#: written when the sweep is planned so reading them back needs no plugin
HEADLINES_KEY = "headlines"

#: how the note of a run whose training diverged starts (its stored reason): the
#: experiment writes it, the run tables show the run as diverged
DIVERGED_NOTE = "diverged:"

#: words in a metric's name that mean lower is better (``valid_loss``, ``max_abs_error``)
LOWER_IS_BETTER_WORDS: tuple[str, ...] = ("loss", "error", "nonfinite")
#: endings that mean a time (``5x784x10.median_s``, ``seconds``); a rate (``samples_per_s``) is not one
TIME_ENDINGS: tuple[str, ...] = ("_s", "seconds", "time")


def better_direction(metric: str) -> str:
    """``"minimize"`` for a metric named like a loss, an error or a time, else ``"maximize"``
    (``--objective`` and ``runner importance --metric`` without ``:max|min``)."""
    name = metric.lower()
    if "per_s" in name:
        return "maximize"
    lower = any(word in name for word in LOWER_IS_BETTER_WORDS) or name.endswith(TIME_ENDINGS)
    return "minimize" if lower else "maximize"
