"""The results schema at head, as SQLAlchemy 2.0 typed models.

Conventions (after optuna's ``models.py``): plural table names, ``<entity>_id``
keys, unique constraints on natural keys, 53-bit floats that keep NaN and
infinities (:class:`~scratchlab.db.sqltypes.Real`), JSON in ``*_json`` text
columns, UTC times. Deliberate deviations carry a comment.

The schema is created and changed only by the Alembic revisions in
``db/migrations/versions``; a test checks that migrating an empty database to
head gives exactly these models.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, MetaData, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

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

NAME = String(255)
SHORT = String(32)


class Base(DeclarativeBase):
    """Declarative base of the results schema."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _real() -> Mapped[float]:
    # Nullable although the value is always a float: NULL is how NaN is stored.
    return mapped_column(Real, nullable=True)


def _run_fk() -> Mapped[int]:
    # Children go with their run; the store also deletes them explicitly, so
    # this only matters for hand-made deletes in a SQL shell.
    return mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False)


class Sweep(Base):
    """One ``runner sweep`` invocation: what was asked for and where it ran."""

    __tablename__ = "sweeps"

    sweep_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(NAME)
    argv_json: Mapped[str] = mapped_column(Text)
    spec_json: Mapped[str] = mapped_column(Text)
    environment_json: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(SHORT)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The process running the sweep and when it last said it is alive, so that
    # ``--resume`` refuses a live sweep and takes over a crashed one.
    owner_host: Mapped[str | None] = mapped_column(NAME)
    owner_pid: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Run(Base):
    """One experiment on one combination of components, device and repeat."""

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("sweep_id", "key"),
        Index(None, "sweep_id", "status"),
        Index(None, "experiment"),
        Index(None, "status"),
    )

    run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.sweep_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(NAME)
    experiment: Mapped[str] = mapped_column(NAME)
    device: Mapped[str] = mapped_column(String(64))
    dtype: Mapped[str] = mapped_column(SHORT)
    seed: Mapped[int] = mapped_column(Integer)
    repeat: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(SHORT)
    reason: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Param(Base):
    """One component choice (``matmul`` -> ``torch``) or one parameter value of a run.

    ``kind`` says how ``value_text`` decodes: ``component``, ``str``, ``int``,
    ``float``, ``bool``, ``json`` or ``null``. ``value_num`` holds the number
    for ``int``/``float``/``bool`` (1/0) rows, so ``lr > 0.1`` is a SQL filter.
    ``version`` is the component's version on component rows: it belongs to
    the choice, and a column keeps the runs table free of one extra
    ``<category>.version`` column per category.
    """

    __tablename__ = "params"
    __table_args__ = (
        UniqueConstraint("run_id", "name"),
        Index(None, "name", "value_num"),
        Index(None, "name", "value_text"),
    )

    param_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    name: Mapped[str] = mapped_column(NAME)
    kind: Mapped[str] = mapped_column(SHORT)
    value_text: Mapped[str] = mapped_column(Text)
    value_num: Mapped[float | None] = mapped_column(Real)
    version: Mapped[str | None] = mapped_column(NAME)


class Timing(Base):
    """One timed operation of a run: its summary; the replicates are in ``timing_replicates``."""

    __tablename__ = "timings"
    __table_args__ = (Index(None, "run_id"),)

    timing_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    label: Mapped[str] = mapped_column(NAME)
    shape: Mapped[str | None] = mapped_column(NAME)
    n: Mapped[int] = mapped_column(Integer)  # number of replicates
    number_per_run: Mapped[int] = mapped_column(Integer)  # calls averaged into each replicate
    median: Mapped[float] = _real()
    iqr: Mapped[float] = _real()
    mean: Mapped[float] = _real()
    min: Mapped[float] = _real()
    max: Mapped[float] = _real()
    flops: Mapped[float | None] = mapped_column(Real)
    threads: Mapped[int | None] = mapped_column(Integer)
    #: ``ok`` or ``noisy``: whether the machine was quiet enough to trust the number
    quality: Mapped[str] = mapped_column(SHORT, server_default="ok")
    #: the evidence behind ``quality`` (probe before/after, calibration, load, spread)
    quality_json: Mapped[str | None] = mapped_column(Text)


class TimingReplicate(Base):
    """One replicate of a timing, in seconds per call.

    One row per replicate rather than a JSON list: confidence intervals and
    significance tests can then select replicates in SQL, and the write
    benchmark showed the cost (about 60 µs per 100 replicates) is noise next
    to a run. The natural key is the primary key (no surrogate id).
    """

    __tablename__ = "timing_replicates"

    timing_id: Mapped[int] = mapped_column(
        ForeignKey("timings.timing_id", ondelete="CASCADE"), primary_key=True
    )
    replicate: Mapped[int] = mapped_column(Integer, primary_key=True)
    seconds: Mapped[float] = _real()


class ActivationStat(Base):
    """Statistics of one layer's output in one model of a run, optionally at a step."""

    __tablename__ = "activation_stats"
    __table_args__ = (Index(None, "run_id", "model", "layer"),)

    activation_stat_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    model: Mapped[str] = mapped_column(NAME)
    layer: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    step: Mapped[int | None] = mapped_column(Integer)
    mean: Mapped[float] = _real()
    std: Mapped[float] = _real()
    min: Mapped[float] = _real()
    max: Mapped[float] = _real()
    frac_zero: Mapped[float] = _real()
    frac_nonfinite: Mapped[float] = _real()


class Metric(Base):
    """One value of a named metric of a run, optionally at a step."""

    __tablename__ = "metrics"
    __table_args__ = (Index(None, "run_id", "name", "step"),)

    metric_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    name: Mapped[str] = mapped_column(NAME)
    step: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float] = _real()


class FinalMetric(Base):
    """The final value of each metric of a run (its value at the highest step; a
    step-less value counts as final; the last written wins), kept beside
    ``metrics`` when a result is written. Deliberately redundant, like MLflow's
    ``latest_metrics``: ``--where valid_accuracy>=0.85`` and ``--sort`` over
    100,000 runs are then one range scan of the ``(name, value)`` index instead
    of an index seek into ``metrics`` per run (see :mod:`scratchlab.db.final`)."""

    __tablename__ = "final_metrics"
    __table_args__ = (Index(None, "name", "value"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.run_id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    step: Mapped[int | None] = mapped_column(Integer)
    value: Mapped[float] = _real()


class Calibration(Base):
    """The quiet time of a fixed reference kernel on one machine at one thread count.

    The timing-quality verdict compares the same probe, timed around each
    measurement, with this figure.
    """

    __tablename__ = "calibrations"
    __table_args__ = (UniqueConstraint("machine", "threads"),)

    calibration_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    machine: Mapped[str] = mapped_column(NAME)
    threads: Mapped[int] = mapped_column(Integer)
    probe_s: Mapped[float] = _real()
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    details_json: Mapped[str] = mapped_column(Text)


class ActivationHistogram(Base):
    """Binned counts of one layer's activations at one step (the lessons' "colorful dimension").

    One row per layer and step with the counts as a JSON list over ``bins``
    equal-width bins from ``lo`` to ``hi``: a histogram per value row would
    be thousands of rows per step.
    """

    __tablename__ = "activation_histograms"
    __table_args__ = (Index(None, "run_id", "model", "layer"),)

    activation_histogram_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = _run_fk()
    model: Mapped[str] = mapped_column(NAME)
    layer: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(NAME)
    step: Mapped[int | None] = mapped_column(Integer)
    lo: Mapped[float] = _real()
    hi: Mapped[float] = _real()
    counts_json: Mapped[str] = mapped_column(Text)
    frac_near_zero: Mapped[float] = _real()


sweeps = Sweep.__table__
runs = Run.__table__
params = Param.__table__
timings = Timing.__table__
timing_replicates = TimingReplicate.__table__
activation_stats = ActivationStat.__table__
metrics = Metric.__table__
final_metrics = FinalMetric.__table__
calibrations = Calibration.__table__
activation_histograms = ActivationHistogram.__table__
