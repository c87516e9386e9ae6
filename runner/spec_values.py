"""The values a user types into a sweep spec, parsed: name lists, ``-s NAME.PARAM=VALUE``
settings, a param's value by the type of its default, and thread counts.

Each check here needs no registry (the param's default is given); a mistake is a
:class:`~scratchlab.runner.spec.PlanError` of one line. Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any

from scratchlab.runner.spec import PlanError

#: the largest integer a param may hold: the database's 64-bit integer range
MAX_PARAM_INT = 2**63 - 1

#: the most torch threads a run may ask for
MAX_THREADS = 1024

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def split_names(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """``"a, b,a"`` or ``["a", "b"]`` -> ``("a", "b")``: stripped, de-duplicated, in order."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    return tuple(dict.fromkeys(s.strip() for s in items if s.strip()))


def parse_setting(text: str) -> tuple[str, str, str]:
    """Split ``NAME.param=value`` into its three parts (the name may contain dots)."""
    target_param, eq, value = text.partition("=")
    target, dot, param = target_param.strip().rpartition(".")
    if not eq or not dot or not target or not param:
        raise PlanError(
            f"-s {text!r}: expected NAME.PARAM=VALUE, e.g. train.lr=0.1 or leaky-relu.slope=0.2"
        )
    return target, param, value.strip()


def add_setting(
    settings: dict[str, dict[str, Any]], target: str, param: str, value: Any, origin: str
) -> None:
    """Record one setting, refusing the same one twice from the same origin."""
    params = settings.setdefault(target, {})
    if param in params:
        raise PlanError(
            f"{origin} sets {target}.{param} twice; to run several values, give each combination"
            " as an [[include]] in --config"
        )
    params[param] = value


def coerce_value(default: Any, value: Any, where: str) -> Any:
    """Parse or check ``value`` by the type of ``default``.

    Strings (from the command line) are parsed: ``bool`` accepts
    true/false/yes/no/on/off/1/0, ``int`` and ``float`` their literals
    (``inf`` and ``nan`` too), a list default takes comma-separated items
    (each parsed by the type of the default's first item) or a JSON list.
    Typed values (from TOML) must match, an int being accepted for a float.
    A ``None`` default takes JSON where it parses and the text otherwise.
    """
    if isinstance(default, bool):  # before numbers: a bool is an int
        return _as_bool(default, value, where)
    if isinstance(default, int | float):
        return _as_number(default, value, where)
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise _refused(where, value, default, "a string")
    if isinstance(default, list | tuple):
        return _as_list(default, value, where)
    if default is None:
        return _as_json_or_text(value)
    return _as_json_shaped(default, value, where)


def _refused(where: str, value: Any, default: Any, expected: str) -> PlanError:
    """The one-line error for ``value`` that does not fit ``default``'s type."""
    return PlanError(f"{where}={value!r}: expected {expected} (default {default!r})")


def _as_bool(default: bool, value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise _refused(where, value, default, "true or false")


def _as_number(default: int | float, value: Any, where: str) -> int | float:
    # an int default takes whole numbers only; a float default takes either
    number, accepted, expected = (
        (int, int, "an integer") if isinstance(default, int) else (float, int | float, "a number")
    )
    if isinstance(value, str) and value.strip().isascii():
        # ASCII only: int() and float() also read other scripts' digits ("２", "٣"), which
        # would store a number the user did not see typed
        with contextlib.suppress(ValueError):
            value = number(value)
    if isinstance(value, accepted) and not isinstance(value, bool):
        if isinstance(value, int) and not -MAX_PARAM_INT <= value <= MAX_PARAM_INT:
            raise _refused(
                where, value, default, f"{expected} within ±{MAX_PARAM_INT} (the stored range)"
            )
        return number(value)
    raise _refused(where, value, default, expected)


def _as_list(default: list | tuple, value: Any, where: str) -> list | tuple:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _refused(where, value, default, f"a JSON list ({exc.msg})") from None
        else:
            value = [s.strip() for s in text.split(",") if s.strip()]
    if not isinstance(value, list | tuple):
        raise _refused(where, value, default, "a list")
    item_default = default[0] if default else None
    items = [coerce_value(item_default, v, f"{where}[{i}]") for i, v in enumerate(value)]
    return type(default)(items)


def _as_json_or_text(value: Any) -> Any:
    """A param without a typed default: JSON where the text parses, else the text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _as_json_shaped(default: Any, value: Any, where: str) -> Any:
    """Dicts and other JSON-shaped defaults: a value of the default's type, or JSON text
    that parses to one."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise _refused(where, value, default, f"JSON for a {type(default).__name__}") from None
        if isinstance(parsed, type(default)):
            return parsed
    if isinstance(value, type(default)):
        return value
    raise _refused(where, value, default, f"a {type(default).__name__}")


def parse_threads(value: Any, where: str = "--threads") -> tuple[int | None, ...]:
    """``"auto"``, ``"1,2"``, ``4`` or ``[1, "auto"]`` -> thread settings (None is auto);
    PlanError naming the allowed values otherwise."""
    items = value.split(",") if isinstance(value, str) else value
    items = items if isinstance(items, list) else [items]
    out: list[int | None] = []
    for item in items:
        text = str(item).strip().lower()
        if text == "auto":
            out.append(None)
            continue
        if not text:  # "1,,2": a typo, not a shorter list
            raise PlanError(
                f"{where}: {value!r} has an empty item; give auto or integers 1 to {MAX_THREADS},"
                " comma-separated"
            )
        if (
            isinstance(item, bool)
            or not (text.isascii() and text.isdigit())
            or not 1 <= int(text) <= MAX_THREADS
        ):
            raise PlanError(
                f"{where}: {item!r} is not a thread count; give auto or integers 1 to {MAX_THREADS}"
            )
        out.append(int(text))
    if not out:
        raise PlanError(f"{where}: give auto or integers 1 to {MAX_THREADS}")
    return tuple(dict.fromkeys(out))
