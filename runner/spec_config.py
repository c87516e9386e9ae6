"""A sweep's ``--config`` TOML file, read into :class:`~scratchlab.runner.spec.SweepSpec`'s
keyword arguments, and merged with the command line's (a flag that was given wins).

The file is checked as far as it can be without the registry: UTF-8 TOML of at most
1 MiB, name lists that are names, integers where integers go, ``[set]``/``[params]``
tables of settings and ``[[include]]`` tables; a key this module does not know names a
category, which planning checks. Every mistake is one :class:`PlanError` line.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scratchlab.runner.spec import Include, PlanError
from scratchlab.runner.spec_values import add_setting, parse_threads, split_names

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

#: the largest ``--config`` file read (a sweep's settings fit in a few kilobytes)
MAX_CONFIG_BYTES = 1 << 20

#: keys holding one value of a type: (key, type)
_TYPED_KEYS: tuple[tuple[str, type], ...] = (
    ("dtype", str),
    ("repeat", int),
    ("seed", int),
    ("max_runs", int),
    ("data_path", str),
    ("name", str),
)


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
    out = {**_choices(data, path), **_typed_values(data, path)}
    if settings := _settings(data, path):
        out["settings"] = settings
    if includes := _includes(data, path):
        out["includes"] = includes
    return out


def _choices(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """What the file chooses: categories, components per category, experiments, devices
    and thread counts."""
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
    return out


def _typed_values(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    """The single values: ``deterministic`` (a bool) and the string and integer keys."""
    out: dict[str, Any] = {}
    if "deterministic" in data:
        if not isinstance(data["deterministic"], bool):
            raise PlanError(f"--config {path}: deterministic must be true or false")
        out["deterministic"] = data["deterministic"]
    for key, kind in _TYPED_KEYS:
        if key in data:
            if not isinstance(data[key], kind) or isinstance(data[key], bool):
                raise PlanError(
                    f"--config {path}: {key} must be a{'n integer' if kind is int else ' string'}"
                )
            out[key] = data[key]
    return out


def _settings(data: Mapping[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    """The ``[set]`` (``"train.lr" = 0.1``) and ``[params.<name>]`` tables as target ->
    param -> value; the same setting twice is refused."""
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
    return settings


def _includes(data: Mapping[str, Any], path: Path) -> tuple[Include, ...]:
    """The ``[[include]]`` tables, each an :class:`Include`."""
    includes = data.get("include", [])
    if not isinstance(includes, list) or not all(isinstance(i, dict) for i in includes):
        raise PlanError(f"--config {path}: include must be [[include]] tables")
    return tuple(_include(entry, path) for entry in includes)


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
