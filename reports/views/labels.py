"""How a page names runs in a picker, a legend or a table header: by what tells them
apart (``#91 kaiming-normal · lr=0.5``), not by a bare id; and which run a picker
opens on (a healthy one, not the first, which is often the diverged ``randn`` run)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from scratchlab.reports.views.common import text_value

#: the final metric that says a run trained well, for choosing the run a picker opens on
BEST_BY = "valid_accuracy"


def run_names(summaries: Sequence[Mapping[str, Any]]) -> dict[int, str]:
    """Names of runs (dicts with ``run_id``, ``experiment``, ``components`` and
    ``params``, as ``run_summary`` gives): the run id, then the components and params
    in which the runs differ; the experiment where they differ in none."""
    chosen = [
        {
            **{c: str(v) for c, v in (s.get("components") or {}).items()},
            **{p: f"{p}={text_value(v)}" for p, v in (s.get("params") or {}).items()},
        }
        for s in summaries
    ]
    names = dict.fromkeys(n for values in chosen for n in values)
    # a run without a value does not count (``lsuv.mode`` exists for lsuv runs only)
    varying = [n for n in names if len({v[n] for v in chosen if n in v}) > 1]
    labels = {}
    for summary, values in zip(summaries, chosen, strict=True):
        parts = [values[n] for n in varying if n in values]
        labels[int(summary["run_id"])] = f"#{int(summary['run_id'])} " + (
            " · ".join(parts) or str(summary.get("experiment") or "")
        )
    return labels


def frame_run_names(runs) -> dict[int, str]:
    """:func:`run_names` of the rows of a ``list_runs`` frame (components from its
    category columns, the other param columns as params)."""
    from scratchlab.reports.filters import category_columns
    from scratchlab.reports.views.common import is_missing, param_columns

    categories = category_columns(runs)
    others = [c for c in param_columns(runs) if c not in categories]
    records = runs.to_dict("records")
    return run_names(
        [
            {
                "run_id": row["run_id"],
                "experiment": row.get("experiment"),
                "components": {c: row[c] for c in categories if not is_missing(row.get(c))},
                "params": {p: row[p] for p in others if not is_missing(row.get(p))},
            }
            for row in records
        ]
    )


def default_run(run_ids: Iterable[int], finals) -> int | None:
    """The run a picker opens on: of ``run_ids``, the one with the highest final
    :data:`BEST_BY` (``finals``: ``final_metrics`` rows, ``run_id, name, value``); the
    first where none has it. None for no runs."""
    ids = [int(r) for r in run_ids]
    if not ids:
        return None
    best: dict[int, float] = {}
    if finals is not None and len(finals):
        rows = finals[finals["name"] == BEST_BY]
        best = {
            int(r): float(v)
            for r, v in zip(rows["run_id"], rows["value"], strict=True)
            if v is not None and math.isfinite(float(v))
        }
    scored = [r for r in ids if r in best]
    return max(scored, key=lambda r: (best[r], -ids.index(r))) if scored else ids[0]
