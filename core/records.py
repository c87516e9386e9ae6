"""Plain records that travel from a run to the database.

They carry Python floats and strings only (no tensors), so a Dask worker can
send them back to the driver, and the database package never needs torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: every status a run can have
RUN_STATUSES: tuple[str, ...] = (
    "pending",
    "running",
    "done",
    "failed",
    "skipped",
    "timeout",
    "interrupted",
    "pruned",  # a search's pruner stopped it early: its reason says at which step and value
)
#: statuses after which a run is not re-run by ``--resume``
FINAL_STATUSES: tuple[str, ...] = ("done", "skipped", "pruned")
#: every status a sweep can have (``running`` until ``finish_sweep``)
SWEEP_STATUSES: tuple[str, ...] = ("running", "done", "failed", "interrupted")


@dataclass
class TimingRecord:
    """One timed operation: every replicate in seconds per call, plus its summary."""

    label: str
    replicates: list[float]
    median: float
    iqr: float
    mean: float
    min: float
    max: float
    number_per_run: int = 1  # calls averaged into each replicate
    shape: str | None = None  # e.g. "5x784x10"
    flops: float | None = None  # floating-point operations per call
    threads: int | None = None
    #: ``ok`` or ``noisy`` (:mod:`scratchlab.db.quality`), and the evidence behind it
    quality: str = "ok"
    evidence: dict[str, Any] | None = None


@dataclass
class StatRecord:
    """Statistics of one layer's output in one model, optionally at a training step."""

    model: str
    layer: int
    name: str
    mean: float
    std: float
    min: float
    max: float
    frac_zero: float
    frac_nonfinite: float
    step: int | None = None


@dataclass
class HistogramRecord:
    """Binned counts of one layer's output at one step (06_cuda_cnn_hooks_init's telemetry).

    ``counts`` has one int per equal-width bin from ``lo`` to ``hi`` (values outside
    are not counted); ``frac_near_zero`` is 06's ``get_min``: the near-zero bins over all bins.
    """

    model: str
    layer: int
    name: str
    lo: float
    hi: float
    counts: list[int]
    frac_near_zero: float
    step: int | None = None


@dataclass
class MetricRecord:
    """One value of a named metric, optionally at a step."""

    name: str
    value: float
    step: int | None = None


#: the params row holding the torch thread count a run ran with (runs stored before
#: issue 21 with ``auto`` have none)
THREADS_PARAM = "threads"
#: the params row marking a run made with ``--deterministic`` (absent otherwise)
DETERMINISTIC_PARAM = "deterministic"


@dataclass
class PlannedRun:
    """A run as planned: what it is, before it has run.

    ``components`` maps category -> component name, ``component_versions``
    category -> version string, ``params`` holds the experiment's and the
    components' params (``"lr"``, ``"leaky-relu.slope"``). ``threads`` is the
    torch thread count the run asks for; None is ``auto``, which the sweep resolves
    before it stores the run (every usable core for a run that runs alone, an equal
    share otherwise), so a stored run says the count it ran with and its key counts it.
    ``deterministic`` runs it with torch's deterministic algorithms.
    """

    key: str
    experiment: str
    components: dict[str, str]
    params: dict[str, Any]
    device: str = "cpu"
    dtype: str = "float32"
    seed: int = 0
    repeat: int = 0
    component_versions: dict[str, str] = field(default_factory=dict)
    threads: int | None = None
    deterministic: bool = False


@dataclass
class RunResult:
    """Everything one run produced; written in one transaction.

    ``status`` is one of :data:`RUN_STATUSES`; ``reason`` holds the skip
    reason, the timeout message or the traceback.
    """

    status: str
    reason: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    timings: list[TimingRecord] = field(default_factory=list)
    stats: list[StatRecord] = field(default_factory=list)
    metrics: list[MetricRecord] = field(default_factory=list)
    histograms: list[HistogramRecord] = field(default_factory=list)
