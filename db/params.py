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

from scratchlab.db.errors import InvalidValueError

#: kind of a component-choice row (``matmul`` -> ``torch``)
COMPONENT = "component"
#: kind of the row that records which experiment a run is and its code's version
#: (name ``experiment``): stored like a component choice so staleness covers the
#: experiment's own code, but never read back as a param or a component
EXPERIMENT = "experiment"
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
