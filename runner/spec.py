"""The sweep spec and how it is read: :class:`SweepSpec`, the names, settings,
values and thread counts a user types, and ``--config`` TOML files.

Everything here checks what it can without the registry (the shape of a
setting, the type of a value against its default, a config file's keys);
:mod:`scratchlab.runner.plan` checks the rest against the registered plugins.
Nothing here imports torch.
"""

from __future__ import annotations

import contextlib
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DTYPES: tuple[str, ...] = ("float32", "float64")

#: the most runs a sweep plans unless ``--max-runs`` says more: a plan past it is almost
#: always a mistake (every category's every component, a huge ``--repeat``)
DEFAULT_MAX_RUNS = 10_000

#: the highest ``--max-runs`` (a plan is a list in memory, about 2 KB a run), and the limit
#: of a stored spec that has none (it was planned whole, before plans had a limit)
MAX_PLAN_RUNS = 10_000_000

#: the largest integer a param may hold: the database's 64-bit integer range
MAX_PARAM_INT = 2**63 - 1

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class PlanError(ValueError):
    """A sweep spec that cannot be planned; the message is one line saying why
    and listing the valid choices."""


@dataclass(frozen=True)
class Include:
    """One explicit combination from a config file's ``[[include]]`` table.

    ``components`` maps category -> component name (categories left out take
    the sweep's single choice for that category, else the default);
    ``params`` maps an experiment param (``"lr"``) or a component param
    (``"leaky-relu.slope"``) to its value.
    """

    experiment: str
    components: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SweepSpec:
    """Everything that decides which runs a sweep has.

    ``settings`` maps a target (an experiment name, a component name, or
    ``"category:component"`` where a name is ambiguous) to param -> value;
    values are strings from the command line or typed values from TOML, and
    are parsed by the type of the param's default when planning.
    ``experiments=None`` means "every experiment that uses a swept category".
    ``only_keys`` restricts the plan to these run keys (a re-run of failed runs).
    ``plugin_modules`` is not a planning input; it is kept with the stored spec
    so that a resume can tell which ``--plugin`` modules the sweep needs.
    """

    plugins: tuple[str, ...] = ()
    components: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    experiments: tuple[str, ...] | None = None
    devices: tuple[str, ...] = ("cpu",)
    dtype: str = "float32"
    repeat: int = 1
    seed: int = 0
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    includes: tuple[Include, ...] = ()
    data_path: str | None = None
    only_keys: tuple[str, ...] | None = None
    plugin_modules: tuple[str, ...] = ()
    #: torch thread counts to sweep; None is ``auto`` (see PlannedRun.threads)
    threads: tuple[int | None, ...] = (None,)
    #: torch's deterministic algorithms in every run, and ``auto`` threads fixed at 1
    deterministic: bool = False
    #: the most runs the plan may have (counted before any is built: ``--max-runs``)
    max_runs: int = DEFAULT_MAX_RUNS

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (stored on the sweep; :meth:`from_json` reads it back)."""
        return {
            "plugins": list(self.plugins),
            "components": {c: list(n) for c, n in self.components.items()},
            "experiments": None if self.experiments is None else list(self.experiments),
            "devices": list(self.devices),
            "dtype": self.dtype,
            "repeat": self.repeat,
            "seed": self.seed,
            "settings": {t: dict(v) for t, v in self.settings.items()},
            "includes": [
                {
                    "experiment": i.experiment,
                    "components": dict(i.components),
                    "params": dict(i.params),
                }
                for i in self.includes
            ],
            "data_path": self.data_path,
            "only_keys": None if self.only_keys is None else list(self.only_keys),
            "plugin_modules": list(self.plugin_modules),
            "threads": ["auto" if t is None else t for t in self.threads],
            "deterministic": self.deterministic,
            "max_runs": self.max_runs,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SweepSpec:
        """Rebuild a spec stored by :meth:`to_json`."""
        return cls(
            plugins=tuple(data.get("plugins") or ()),
            components={c: tuple(n) for c, n in (data.get("components") or {}).items()},
            experiments=None if data.get("experiments") is None else tuple(data["experiments"]),
            devices=tuple(data.get("devices") or ("cpu",)),
            dtype=data.get("dtype", "float32"),
            repeat=int(data.get("repeat", 1)),
            seed=int(data.get("seed", 0)),
            settings={t: dict(v) for t, v in (data.get("settings") or {}).items()},
            includes=tuple(
                Include(
                    i["experiment"], dict(i.get("components") or {}), dict(i.get("params") or {})
                )
                for i in data.get("includes") or ()
            ),
            data_path=data.get("data_path"),
            only_keys=None if data.get("only_keys") is None else tuple(data["only_keys"]),
            plugin_modules=tuple(data.get("plugin_modules") or ()),
            threads=tuple(
                None if t == "auto" else int(t) for t in data.get("threads") or ("auto",)
            ),
            deterministic=bool(data.get("deterministic", False)),
            # a sweep stored before plans had a limit was planned whole: no limit to resume it
            max_runs=int(data.get("max_runs") or MAX_PLAN_RUNS),
        )


# --------------------------------------------------------------------------- parsing


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

    def fail(expected: str) -> PlanError:
        return PlanError(f"{where}={value!r}: expected {expected} (default {default!r})")

    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
            return value.lower() in _TRUE
        raise fail("true or false")
    if isinstance(default, int | float):
        # an int default takes whole numbers only; a float default takes either
        number, accepted, expected = (
            (int, int, "an integer")
            if isinstance(default, int)
            else (float, int | float, "a number")
        )
        if isinstance(value, str) and value.strip().isascii():
            # ASCII only: int() and float() also read other scripts' digits ("２", "٣"), which
            # would store a number the user did not see typed
            with contextlib.suppress(ValueError):
                value = number(value)
        if isinstance(value, accepted) and not isinstance(value, bool):
            if isinstance(value, int) and not -MAX_PARAM_INT <= value <= MAX_PARAM_INT:
                raise fail(f"{expected} within ±{MAX_PARAM_INT} (the stored range)")
            return number(value)
        raise fail(expected)
    if isinstance(default, str):
        if isinstance(value, str):
            return value
        raise fail("a string")
    if isinstance(default, list | tuple):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise fail(f"a JSON list ({exc.msg})") from None
            else:
                value = [s.strip() for s in text.split(",") if s.strip()]
        if not isinstance(value, list | tuple):
            raise fail("a list")
        item_default = default[0] if default else None
        items = [coerce_value(item_default, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return type(default)(items)
    if default is None:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError:
                return value
        return value
    if isinstance(value, str):  # dicts and other JSON-shaped defaults
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise fail(f"JSON for a {type(default).__name__}") from None
        if isinstance(parsed, type(default)):
            return parsed
    if isinstance(value, type(default)):
        return value
    raise fail(f"a {type(default).__name__}")


#: top-level keys a ``--config`` file may have (besides one key per component category)
CONFIG_KEYS: tuple[str, ...] = (
    "plugins",
    "experiments",
    "device",
    "devices",
    "dtype",
    "repeat",
    "seed",
    "data_path",
    "name",
    "set",
    "params",
    "include",
    "threads",
    "max_runs",
    "deterministic",
)

#: the most torch threads a run may ask for
MAX_THREADS = 1024


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


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a sweep TOML file into the keyword arguments of :class:`SweepSpec` (plus ``name``).

    The file holds what the options hold: ``plugins``, one key per category
    (``matmul = ["torch", "einsum"]``), ``experiments``, ``devices``, ``dtype``,
    ``repeat``, ``seed``, ``data-path``, ``name``, settings as ``[set]``
    (``"train.lr" = 0.1``) or ``[params.<name>]`` tables, and ``[[include]]``
    tables (``experiment = "train"``, ``init = "xavier"``, ``params = {lr = 0.1}``).
    Lists may also be written as comma-separated strings.
    """
    path = Path(path)
    data = {k.replace("-", "_"): v for k, v in read_toml(path).items()}
    # any other key names a category (a plugin's too): planning checks that it exists
    if "device" in data and "devices" in data:
        raise PlanError(f"--config {path}: give either device or devices, not both")

    out: dict[str, Any] = {}
    if "plugins" in data:
        out["plugins"] = _names(data, "plugins", path)
    components = {c: _names(data, c, path) for c in data if c not in CONFIG_KEYS}
    if components:
        out["components"] = components
    if "experiments" in data:
        out["experiments"] = _names(data, "experiments", path)
    if "device" in data or "devices" in data:
        out["devices"] = _names(data, "devices" if "devices" in data else "device", path)
    if "threads" in data:
        out["threads"] = parse_threads(data["threads"], f"--config {path}: threads")
    if "deterministic" in data:
        if not isinstance(data["deterministic"], bool):
            raise PlanError(f"--config {path}: deterministic must be true or false")
        out["deterministic"] = data["deterministic"]
    for key, kind in (
        ("dtype", str),
        ("repeat", int),
        ("seed", int),
        ("max_runs", int),
        ("data_path", str),
        ("name", str),
    ):
        if key in data:
            if not isinstance(data[key], kind) or isinstance(data[key], bool):
                raise PlanError(
                    f"--config {path}: {key} must be a{'n integer' if kind is int else ' string'}"
                )
            out[key] = data[key]

    settings: dict[str, dict[str, Any]] = {}
    for dotted, value in _table(data, "set", path).items():
        target, dot, param = dotted.rpartition(".")
        if not dot or not target:
            raise PlanError(f"--config {path}: [set] key {dotted!r} must be NAME.PARAM")
        add_setting(settings, target, param, value, f"--config {path}")
    for target, params in _table(data, "params", path).items():
        if not isinstance(params, dict):
            raise PlanError(f"--config {path}: [params.{target}] must be a table of param = value")
        for param, value in params.items():
            add_setting(settings, target, param, value, f"--config {path}")
    if settings:
        out["settings"] = settings

    includes = data.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, dict) for i in includes):
        raise PlanError(f"--config {path}: include must be [[include]] tables")
    if includes:
        out["includes"] = tuple(_include(entry, path) for entry in includes)
    return out


#: the largest ``--config`` file read (a sweep's settings fit in a few kilobytes)
MAX_CONFIG_BYTES = 1 << 20


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML table in ``path``; PlanError, one line, for a file that cannot be read,
    is not UTF-8 text (TOML's only encoding: a UTF-16 file or a binary one), is too large
    or nested too deeply to parse, or is not valid TOML."""
    where = f"--config {path}"
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise PlanError(f"{where}: {exc.strerror or exc}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise PlanError(f"{where}: larger than {MAX_CONFIG_BYTES >> 20} MiB; not a sweep config")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PlanError(f"{where}: the file is UTF-16; TOML files are UTF-8: save it as UTF-8")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(
            f"{where}: not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x});"
            " a TOML file is UTF-8 text"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{where}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise PlanError(f"{where}: nested too deeply to be a sweep config") from None


def _names(data: Mapping[str, Any], key: str, path: Path) -> tuple[str, ...]:
    """``data[key]`` as names: a string (comma-separated) or a list of strings; PlanError otherwise."""
    value = data[key]
    if isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(v, str) for v in value)
    ):
        return split_names(value)
    # any other key is a category: it may be a misspelt key, so the keys are listed
    tail = (
        f", not {type(value).__name__} {_shown(value)}"
        if key in CONFIG_KEYS
        else f"; other keys: {', '.join(CONFIG_KEYS)}"
    )
    what = "names" if key in CONFIG_KEYS else "component names"
    raise PlanError(f"--config {path}: {key} must be {what} (a string or a list of strings){tail}")


def _shown(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _table(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise PlanError(f"--config {path}: {key} must be a table")
    return value


def _include(entry: Mapping[str, Any], path: Path) -> Include:
    entry = {k.replace("-", "_"): v for k, v in entry.items()}
    if not isinstance(entry.get("experiment"), str):
        raise PlanError(
            f"--config {path}: [[include]] needs experiment = NAME (other keys: params, and a category per choice)"
        )
    params = entry.get("params", {})
    if not isinstance(params, dict):
        raise PlanError(f"--config {path}: [[include]] params must be a table")
    # every other key is a category the experiment uses (checked when planning)
    components = {c: entry[c] for c in entry if c not in ("experiment", "params")}
    for category, name in components.items():
        if not isinstance(name, str):
            raise PlanError(f"--config {path}: [[include]] {category} must be one component name")
    return Include(entry["experiment"], components, dict(params))


def merge_spec_args(file_args: Mapping[str, Any], cli_args: Mapping[str, Any]) -> dict[str, Any]:
    """Combine a config file's spec arguments with the command line's: a flag
    that was given wins; component lists merge per category and settings per
    param."""
    merged = dict(file_args)
    for key, value in cli_args.items():
        if value is None:
            continue
        if key == "components":
            merged[key] = {**merged.get(key, {}), **value}
        elif key == "settings":
            combined = {t: dict(p) for t, p in merged.get(key, {}).items()}
            for target, params in value.items():
                combined.setdefault(target, {}).update(params)
            merged[key] = combined
        else:
            merged[key] = value
    return merged
