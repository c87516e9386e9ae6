"""A run's key: the SHA-256 of the canonical JSON of exactly what the run depends on.

Equal keys mean equal runs, so a plan's duplicates collapse and ``--resume`` matches
stored runs to planned ones; :func:`run_identity` leaves the component versions out,
so ``--rerun-failed`` finds a run again after its code was fixed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from scratchlab.core.records import PlannedRun


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same text for the same value, in
    any process (NaN and infinities written as ``NaN``/``Infinity``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=repr)


def run_key(
    experiment: str,
    components: Mapping[str, str],
    versions: Mapping[str, str],
    params: Mapping[str, Any],
    device: str,
    dtype: str,
    seed: int,
    repeat: int,
    threads: int | None = None,
    deterministic: bool = False,
) -> str:
    """The run key: SHA-256 (hex) of exactly what a run depends on.

    ``versions`` maps category -> version and includes ``"experiment"``, so a
    change to the code of any component (or of the experiment) changes the key.
    ``threads``, the torch thread count, counts when given: a sweep resolves
    ``auto`` (None) to the count each run gets before it stores the run
    (:mod:`scratchlab.runner.threads`), since results depend on it; None leaves
    the key as it was before thread counts were counted. ``deterministic``
    counts only when set.
    """
    payload = {
        "experiment": {"name": experiment, "version": versions.get("experiment")},
        "components": {c: {"name": n, "version": versions.get(c)} for c, n in components.items()},
        "params": dict(params),
        "device": device,
        "dtype": dtype,
        "seed": seed,
        "repeat": repeat,
    }
    if threads is not None:
        payload["threads"] = threads
    if deterministic:
        payload["deterministic"] = True
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def run_identity(run: PlannedRun) -> str:
    """The run's key computed without component versions: equal for the same
    combination, params, device, dtype, seed and repeat before and after a
    component's code changed (how ``--rerun-failed`` finds a fixed run again)."""
    return run_key(
        run.experiment,
        run.components,
        {},
        run.params,
        run.device,
        run.dtype,
        run.seed,
        run.repeat,
        run.threads,
        run.deterministic,
    )
