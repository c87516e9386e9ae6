"""How a parameter value is stored in the ``params`` table, and read back.

Every value keeps its exact form in ``value_text`` and its type in ``kind``,
so it reads back as what was written; numbers (and bools, as 1/0) also go
into ``value_num``, so ranges are SQL filters. Lists and dicts are JSON text.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from scratchlab.core.records import DETERMINISTIC_PARAM, THREADS_PARAM, PlannedRun
from scratchlab.db.errors import InvalidValueError

#: kind of a component-choice row (``matmul`` -> ``torch``)
COMPONENT = "component"
#: kind of the row that records which experiment a run is and its code's version
#: (name ``experiment``): stored like a component choice so staleness covers the
#: experiment's own code, but never read back as a param or a component
EXPERIMENT = "experiment"
#: the columns of a ``params`` row, as :func:`param_rows` gives them after ``run_id``
PARAM_COLUMNS = ("run_id", "name", "kind", "value_text", "value_num", "version")
#: kinds whose ``value_num`` holds the value
NUMERIC_KINDS = ("int", "float", "bool")


def encode(name: str, value: Any) -> tuple[str, str, float | None]:
    """``(kind, value_text, value_num)`` for one parameter value."""
    if value is None:
        return "null", "null", None
    if isinstance(value, bool):
        return "bool", "true" if value else "false", float(value)
    if isinstance(value, numbers.Integral):
        return "int", str(int(value)), float(value)
    if isinstance(value, numbers.Real):
        number = float(value)
        return "float", repr(number), number
    if isinstance(value, str):
        return "str", value, None
    if isinstance(value, Mapping | Sequence) and not isinstance(value, bytes | bytearray):
        try:
            return "json", json.dumps(value, sort_keys=True), None
        except (TypeError, ValueError) as exc:
            raise InvalidValueError(f"param {name!r}: cannot store {value!r} ({exc})") from None
    raise InvalidValueError(
        f"param {name!r}: cannot store a {type(value).__name__} ({value!r}); "
        "use a number, bool, string, None, or a list/dict of those"
    )


def decode(kind: str, text: str) -> Any:
    """The Python value of a stored parameter."""
    if kind in (COMPONENT, EXPERIMENT, "str"):
        return text
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)  # float() reads "nan", "inf" and "-inf" as written by repr()
    if kind == "bool":
        return text == "true"
    if kind in ("json", "null"):
        return json.loads(text)
    raise InvalidValueError(f"unknown stored param kind {kind!r}")


def matches(value: Any) -> tuple[str, Any]:
    """Which column an equality filter on ``value`` compares, and with what.

    Numbers compare as numbers (``1`` matches ``1.0``); bools compare with
    their text, so ``True`` never matches the number 1; anything else
    compares with the stored text, so ``"0.5"`` typed on a command line
    matches a stored 0.5.
    """
    if isinstance(value, bool) or value is None:
        return "value_text", encode("filter", value)[1]
    if isinstance(value, numbers.Real):
        number = float(value)
        if math.isnan(number):
            return "value_text", "nan"
        return "value_num", number
    if isinstance(value, str):
        return "value_text", value
    return "value_text", encode("filter", value)[1]


def param_rows(run: PlannedRun) -> list[tuple]:
    """The params rows of one planned run (``PARAM_COLUMNS`` after ``run_id``):
    its experiment and component choices with their versions, then its parameters."""
    rows = [(EXPERIMENT, EXPERIMENT, run.experiment, None, run.component_versions.get(EXPERIMENT))]
    rows += [
        (category, COMPONENT, name, None, run.component_versions.get(category))
        for category, name in run.components.items()
    ]
    for name, value in run.params.items():
        if name in run.components or name == EXPERIMENT:
            raise InvalidValueError(
                f"run {run.key}: param {name!r} has the name of a component category; rename the param"
            )
        kind, text, number = encode(name, value)
        rows.append((name, kind, text, number, None))
    # the thread count is a run setting like the device: a row, so it can be filtered on
    # (a sweep resolves auto before storing; only a PlannedRun made by hand leaves it None)
    if run.threads is not None and THREADS_PARAM not in run.params:
        rows.append((THREADS_PARAM, *encode(THREADS_PARAM, run.threads), None))
    if run.deterministic and DETERMINISTIC_PARAM not in run.params:
        rows.append((DETERMINISTIC_PARAM, *encode(DETERMINISTIC_PARAM, True), None))
    return rows
