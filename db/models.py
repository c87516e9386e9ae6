"""The results schema at head, as SQLAlchemy Core tables.

Conventions (after optuna's ``models.py``): plural table names, ``<entity>_id``
keys, unique constraints on natural keys, 53-bit floats that keep NaN and
infinities (:class:`~scratchlab.db.sqltypes.Real`), JSON in ``*_json`` text
columns, UTC times. Deliberate deviations carry a comment.

Core tables, not ORM classes: every query and write goes through the tables
(``select(runs.c.status)``, bulk ``insert``), nothing maps rows to objects, and
importing ``sqlalchemy.orm`` plus declaring the classes cost a read command
about 0.15 s of start-up on a small machine.

The schema is created and changed only by the Alembic revisions in
``db/migrations/versions``; a test checks that migrating an empty database to
head gives exactly these tables.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from scratchlab.db.sqltypes import Real, UTCDateTime

#: Constraint and index names follow one pattern, so batch migrations on SQLite
#: (which recreate tables) can find them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: every table of the results schema (Alembic's ``target_metadata``)
metadata = MetaData(naming_convention=NAMING_CONVENTION)

NAME = String(255)
SHORT = String(32)


def _id(name: str) -> Column:
    return Column(name, Integer, primary_key=True)


def _required(name: str, type_) -> Column:
    return Column(name, type_, nullable=False)


def _optional(name: str, type_) -> Column:
    return Column(name, type_, nullable=True)


def _real(name: str) -> Column:
    # Nullable although the value is always a float: NULL is how NaN is stored.
    return Column(name, Real, nullable=True)


def _run_fk(**kwargs) -> Column:
    # Children go with their run; the store also deletes them explicitly, so
    # this only matters for hand-made deletes in a SQL shell.
    return Column("run_id", ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False, **kwargs)


#: One ``runner sweep`` invocation: what was asked for and where it ran.
sweeps = Table(
    "sweeps",
    metadata,
    _id("sweep_id"),
    _required("name", NAME),
    _required("argv_json", Text),
    _required("spec_json", Text),
    _required("environment_json", Text),
    _required("status", SHORT),
    _required("started_at", UTCDateTime),
    _optional("finished_at", UTCDateTime),
    # The process running the sweep and when it last said it is alive, so that
    # ``--resume`` refuses a live sweep and takes over a crashed one.
    _optional("owner_host", NAME),
    _optional("owner_pid", Integer),
    _optional("heartbeat_at", UTCDateTime),
)

#: One experiment on one combination of components, device and repeat.
runs = Table(
    "runs",
    metadata,
    _id("run_id"),
    Column("sweep_id", ForeignKey("sweeps.sweep_id", ondelete="CASCADE"), nullable=False),
    _required("key", NAME),
    _required("experiment", NAME),
    _required("device", String(64)),
    _required("dtype", SHORT),
    _required("seed", Integer),
    _required("repeat", Integer),
    _required("status", SHORT),
    _optional("reason", Text),
    _optional("started_at", UTCDateTime),
    _optional("finished_at", UTCDateTime),
    # a person's note on the run (``runner note``); ``reason`` is what the run itself said
    _optional("note", Text),
    UniqueConstraint("sweep_id", "key"),
    Index(None, "sweep_id", "status"),
    Index(None, "experiment"),
    Index(None, "status"),
)

#: One component choice (``matmul`` -> ``torch``) or one parameter value of a run.
#:
#: ``kind`` says how ``value_text`` decodes: ``component``, ``str``, ``int``,
#: ``float``, ``bool``, ``json`` or ``null``. ``value_num`` holds the number
#: for ``int``/``float``/``bool`` (1/0) rows, so ``lr > 0.1`` is a SQL filter.
#: ``version`` is the component's version on component rows: it belongs to
#: the choice, and a column keeps the runs table free of one extra
#: ``<category>.version`` column per category.
params = Table(
    "params",
    metadata,
    _id("param_id"),
    _run_fk(),
    _required("name", NAME),
    _required("kind", SHORT),
    _required("value_text", Text),
    _optional("value_num", Real),
    _optional("version", NAME),
    UniqueConstraint("run_id", "name"),
    Index(None, "name", "value_num"),
    Index(None, "name", "value_text"),
)

#: One timed operation of a run: its summary; the replicates are in ``timing_replicates``.
timings = Table(
    "timings",
    metadata,
    _id("timing_id"),
    _run_fk(),
    _required("label", NAME),
    _optional("shape", NAME),
    _required("n", Integer),  # number of replicates
    _required("number_per_run", Integer),  # calls averaged into each replicate
    _real("median"),
    _real("iqr"),
    _real("mean"),
    _real("min"),
    _real("max"),
    _optional("flops", Real),
    _optional("threads", Integer),
    # ``ok`` or ``noisy``: whether the machine was quiet enough to trust the number
    Column("quality", SHORT, nullable=False, server_default="ok"),
    # the evidence behind ``quality`` (probe before/after, calibration, load, spread)
    _optional("quality_json", Text),
    Index(None, "run_id"),
)

#: One replicate of a timing, in seconds per call.
#:
#: One row per replicate rather than a JSON list: confidence intervals and
#: significance tests can then select replicates in SQL, and the write
#: benchmark showed the cost (about 60 µs per 100 replicates) is noise next
#: to a run. The natural key is the primary key (no surrogate id).
timing_replicates = Table(
    "timing_replicates",
    metadata,
    Column("timing_id", ForeignKey("timings.timing_id", ondelete="CASCADE"), primary_key=True),
    Column("replicate", Integer, primary_key=True),
    _real("seconds"),
)

#: Statistics of one layer's output in one model of a run, optionally at a step.
activation_stats = Table(
    "activation_stats",
    metadata,
    _id("activation_stat_id"),
    _run_fk(),
    _required("model", NAME),
    _required("layer", Integer),
    _required("name", NAME),
    _optional("step", Integer),
    *(_real(name) for name in ("mean", "std", "min", "max", "frac_zero", "frac_nonfinite")),
    Index(None, "run_id", "model", "layer"),
)

#: One value of a named metric of a run, optionally at a step.
metrics = Table(
    "metrics",
    metadata,
    _id("metric_id"),
    _run_fk(),
    _required("name", NAME),
    _optional("step", Integer),
    _real("value"),
    Index(None, "run_id", "name", "step"),
)

#: The final value of each metric of a run (its value at the highest step; a
#: step-less value counts as final; the last written wins), kept beside
#: ``metrics`` when a result is written. Deliberately redundant, like MLflow's
#: ``latest_metrics``: ``--where valid_accuracy>=0.85`` and ``--sort`` over
#: 100,000 runs are then one range scan of the ``(name, value)`` index instead
#: of an index seek into ``metrics`` per run (see :mod:`scratchlab.db.final`). The
#: index holds ``run_id`` too, so a metric filter joined to ``runs`` (``--experiment
#: train --where valid_accuracy>=0.85``) reads the run ids from the index alone.
final_metrics = Table(
    "final_metrics",
    metadata,
    _run_fk(primary_key=True),
    Column("name", NAME, primary_key=True),
    _optional("step", Integer),
    _real("value"),
    Index(None, "name", "value", "run_id"),
)

#: The quiet time of a fixed reference kernel on one machine at one thread count.
#: The timing-quality verdict compares the same probe, timed around each
#: measurement, with this figure.
calibrations = Table(
    "calibrations",
    metadata,
    _id("calibration_id"),
    _required("machine", NAME),
    _required("threads", Integer),
    _real("probe_s"),
    _required("measured_at", UTCDateTime),
    _required("details_json", Text),
    UniqueConstraint("machine", "threads"),
)

#: Binned counts of one layer's activations at one step (the lessons' "colorful dimension").
#:
#: One row per layer and step with the counts as a JSON list over ``bins``
#: equal-width bins from ``lo`` to ``hi``: a histogram per value row would
#: be thousands of rows per step.
activation_histograms = Table(
    "activation_histograms",
    metadata,
    _id("activation_histogram_id"),
    _run_fk(),
    _required("model", NAME),
    _required("layer", Integer),
    _required("name", NAME),
    _optional("step", Integer),
    _real("lo"),
    _real("hi"),
    _required("counts_json", Text),
    _real("frac_near_zero"),
    Index(None, "run_id", "model", "layer"),
)


def _tags(owner: str) -> Table:
    """A tag table: one row per (run or sweep, tag), indexed by tag for ``--where tag=T``.

    Two tables rather than one with two nullable keys: each row has a real
    foreign key that deletes it with its owner, and the natural primary key.
    """
    key = f"{owner}_id"
    return Table(
        f"{owner}_tags",
        metadata,
        Column(key, ForeignKey(f"{owner}s.{key}", ondelete="CASCADE"), primary_key=True),
        Column("tag", NAME, primary_key=True),
        Index(None, "tag", key),
    )


#: A free-text label on a run (``runner tag RUN_ID T``).
run_tags = _tags("run")
#: A free-text label on a sweep (``runner sweep --tag T``, ``runner tag --sweep N T``):
#: it applies to every run of the sweep, the ones a search adds later included.
sweep_tags = _tags("sweep")
