"""Sweep planning: a pure function from a sweep spec and the registry to runs.

A :class:`SweepSpec` says what to sweep (categories, narrowed component lists,
experiments, devices, repeats, settings, explicit ``[[include]]``
combinations); :func:`plan` turns it into :class:`PlannedRun` records. Each
experiment runs once per distinct combination of the categories *it* uses, so
sweeping ``matmul,init`` runs the ``matmul`` experiment once per matmul, not
once per (matmul, init) pair. Categories an experiment uses but the sweep does
not name stay at their default (``Registry.default``; the categories
themselves, built-in or added by a plugin, come from the registry).

Every run carries complete params (defaults filled in; component params as
``"<component>.<param>"``) and a key: the SHA-256 of the canonical JSON of
exactly what the run depends on. Equal keys mean equal runs, so duplicates
collapse and ``--resume`` can match stored runs to planned ones.

Nothing here imports torch, touches the database or reads the environment:
the command line builds the spec, this module only computes.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scratchlab.db.records import PlannedRun
from scratchlab.plugins.registry import Registry, UnknownComponentError

DTYPES: tuple[str, ...] = ("float32", "float64")

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
                {"experiment": i.experiment, "components": dict(i.components), "params": dict(i.params)}
                for i in self.includes
            ],
            "data_path": self.data_path,
            "only_keys": None if self.only_keys is None else list(self.only_keys),
            "plugin_modules": list(self.plugin_modules),
            "threads": ["auto" if t is None else t for t in self.threads],
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
                Include(i["experiment"], dict(i.get("components") or {}), dict(i.get("params") or {}))
                for i in data.get("includes") or ()
            ),
            data_path=data.get("data_path"),
            only_keys=None if data.get("only_keys") is None else tuple(data["only_keys"]),
            plugin_modules=tuple(data.get("plugin_modules") or ()),
            threads=tuple(None if t == "auto" else int(t) for t in data.get("threads") or ("auto",)),
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
        raise PlanError(f"-s {text!r}: expected NAME.PARAM=VALUE, e.g. train.lr=0.1 or leaky-relu.slope=0.2")
    return target, param, value.strip()


def add_setting(settings: dict[str, dict[str, Any]], target: str, param: str, value: Any, origin: str) -> None:
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
            (int, int, "an integer") if isinstance(default, int) else (float, int | float, "a number")
        )
        if isinstance(value, accepted) and not isinstance(value, bool):
            return number(value)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
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
    "plugins", "experiments", "device", "devices", "dtype", "repeat", "seed",
    "data_path", "name", "set", "params", "include", "threads",
)

#: the most torch threads a run may ask for
MAX_THREADS = 1024


def parse_threads(value: Any, where: str = "--threads") -> tuple[int | None, ...]:
    """``"auto"``, ``"1,2"``, ``4`` or ``[1, "auto"]`` -> thread settings (None is auto);
    PlanError naming the allowed values otherwise."""
    items = split_names(value) if isinstance(value, str) else (value if isinstance(value, list) else [value])
    out: list[int | None] = []
    for item in items:
        text = str(item).strip().lower()
        if text == "auto":
            out.append(None)
            continue
        if isinstance(item, bool) or not text.isdigit() or not 1 <= int(text) <= MAX_THREADS:
            raise PlanError(f"{where}: {item!r} is not a thread count; give auto or integers 1 to {MAX_THREADS}")
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
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise PlanError(f"--config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"--config {path}: not valid TOML: {exc}") from None
    data = {k.replace("-", "_"): v for k, v in raw.items()}
    # any other key names a category (a plugin's too): planning checks that it exists
    if "device" in data and "devices" in data:
        raise PlanError(f"--config {path}: give either device or devices, not both")

    out: dict[str, Any] = {}
    if "plugins" in data:
        out["plugins"] = split_names(data["plugins"])
    components = {c: data[c] for c in data if c not in CONFIG_KEYS}
    for category in components:
        value = data[category]
        if not isinstance(value, str | list) or not all(isinstance(v, str) for v in ([value] if isinstance(value, str) else value)):
            raise PlanError(
                f"--config {path}: {category} must be component names (a string or a list of strings);"
                f" other keys: {', '.join(CONFIG_KEYS)}"
            )
    if components:
        out["components"] = {c: split_names(v) for c, v in components.items()}
    if "experiments" in data:
        out["experiments"] = split_names(data["experiments"])
    if "device" in data or "devices" in data:
        out["devices"] = split_names(data.get("devices", data.get("device")))
    if "threads" in data:
        out["threads"] = parse_threads(data["threads"], f"--config {path}: threads")
    for key, kind in (("dtype", str), ("repeat", int), ("seed", int), ("data_path", str), ("name", str)):
        if key in data:
            if not isinstance(data[key], kind) or isinstance(data[key], bool):
                raise PlanError(f"--config {path}: {key} must be a{'n integer' if kind is int else ' string'}")
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


def _table(data: Mapping[str, Any], key: str, path: Path) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise PlanError(f"--config {path}: {key} must be a table")
    return value


def _include(entry: Mapping[str, Any], path: Path) -> Include:
    entry = {k.replace("-", "_"): v for k, v in entry.items()}
    if not isinstance(entry.get("experiment"), str):
        raise PlanError(f"--config {path}: [[include]] needs experiment = NAME (other keys: params, and a category per choice)")
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


# --------------------------------------------------------------------------- keys


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
) -> str:
    """The run key: SHA-256 (hex) of exactly what a run depends on.

    ``versions`` maps category -> version and includes ``"experiment"``, so a
    change to the code of any component (or of the experiment) changes the key.
    ``threads`` counts only when given (None, auto, leaves the key as it was
    before thread counts were a setting).
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
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()


def run_identity(run: PlannedRun) -> str:
    """The run's key computed without component versions: equal for the same
    combination, params, device, dtype, seed and repeat before and after a
    component's code changed (how ``--rerun-failed`` finds a fixed run again)."""
    return run_key(
        run.experiment, run.components, {}, run.params, run.device, run.dtype, run.seed, run.repeat, run.threads
    )


# --------------------------------------------------------------------------- planning


def _valid(names: Iterable[str]) -> str:
    return ", ".join(names) or "none registered"


@dataclass(frozen=True)
class _Target:
    """What a settings name refers to: ``category`` is "experiment" or a component category."""

    category: str
    name: str


def _targets(registry: Registry) -> dict[str, list[_Target]]:
    targets: dict[str, list[_Target]] = {}
    for entry in registry:
        targets.setdefault(entry.name, []).append(_Target(entry.category, entry.name))
    return targets


def _resolve_target(text: str, registry: Registry, targets: Mapping[str, list[_Target]]) -> _Target:
    category, colon, name = text.rpartition(":")
    if colon:
        known = (*registry.component_categories(), "experiment")
        if category not in known:
            raise PlanError(f"-s {text}: unknown category {category!r}; valid: {', '.join(known)}")
        try:
            registry.get(category, name)
        except UnknownComponentError as exc:
            raise PlanError(f"-s {text}: {exc}") from None
        return _Target(category, name)
    found = targets.get(text, [])
    if not found:
        experiments = registry.names("experiment")
        components = sorted({e.name for e in registry if e.category != "experiment"})
        raise PlanError(
            f"-s {text}: no experiment or component named {text!r};"
            f" experiments: {_valid(experiments)}; components: {_valid(components)}"
        )
    if len(found) > 1:
        both = " and ".join(f"{t.category} {t.name!r}" for t in found)
        spelled = " or ".join(f"-s {t.category}:{t.name}.PARAM=..." for t in found)
        raise PlanError(f"-s {text}: {text!r} is ambiguous: it names {both}; write {spelled}")
    return found[0]


def _resolve_settings(
    settings: Mapping[str, Mapping[str, Any]], registry: Registry
) -> dict[_Target, dict[str, Any]]:
    """Check every setting's target and param, and parse its value."""
    targets = _targets(registry)
    resolved: dict[_Target, dict[str, Any]] = {}
    for text, params in settings.items():
        target = _resolve_target(text, registry, targets)
        defaults = registry.get(target.category, target.name).component.params
        for param, value in params.items():
            if param not in defaults:
                raise PlanError(
                    f"-s {text}.{param}: {target.category} {target.name!r} has no param {param!r};"
                    f" params: {', '.join(defaults) or 'none'}"
                )
            parsed = coerce_value(defaults[param], value, f"{text}.{param}")
            resolved.setdefault(target, {})[param] = parsed
    return resolved


def _check_component(registry: Registry, category: str, name: str, where: str) -> None:
    try:
        registry.get(category, name)
    except UnknownComponentError as exc:
        raise PlanError(f"{where}: {exc}") from None


def _choices(spec: SweepSpec, registry: Registry) -> tuple[dict[str, tuple[str, ...]], tuple[str, ...]]:
    """Component choices per category, and the swept categories in order.

    A category named by ``plugins`` sweeps every registered component unless
    its own option narrows it; a category given only its own option sweeps
    exactly those components.
    """
    known = registry.component_categories()
    for category in spec.plugins:
        if category not in known:
            hint = " (choose experiments with --experiments)" if category == "experiment" else ""
            raise PlanError(f"--plugins: unknown category {category!r}; valid: {', '.join(known)}{hint}")
    choices: dict[str, tuple[str, ...]] = {}
    for category, names in spec.components.items():
        if category not in known:
            raise PlanError(f"unknown category {category!r}; valid: {', '.join(known)}")
        if not names:
            raise PlanError(f"--{category} needs at least one name; valid: {_valid(registry.names(category))}")
        for name in names:
            _check_component(registry, category, name, f"--{category}")
        choices[category] = tuple(names)
    swept = tuple(dict.fromkeys((*spec.plugins, *choices)))
    for category in spec.plugins:
        if category not in choices:
            choices[category] = tuple(registry.names(category))
            if not choices[category]:
                raise PlanError(f"--plugins {category}: no {category} components are registered")
    return choices, swept


def _component_for(category: str, choices: Mapping[str, tuple[str, ...]], registry: Registry, experiment: str) -> tuple[str, ...]:
    if category in choices:
        return choices[category]
    name = registry.default(category)
    if name is None:
        raise PlanError(
            f"experiment {experiment!r} uses {category}, which has no default;"
            f" choose with --{category} or --plugins {category} (registered: {_valid(registry.names(category))})"
        )
    if name not in registry.names(category):
        raise PlanError(
            f"experiment {experiment!r} uses {category}, whose default {name!r} is not registered;"
            f" choose one with --{category} (registered: {_valid(registry.names(category))})"
        )
    return (name,)


def _experiments(spec: SweepSpec, registry: Registry, swept: Sequence[str]) -> tuple[str, ...]:
    if spec.experiments is not None:
        for name in spec.experiments:
            _check_component(registry, "experiment", name, "--experiments")
        return spec.experiments
    chosen = tuple(e.name for e in registry.category("experiment") if set(e.component.uses) & set(swept))
    if not chosen and swept and not spec.includes:
        described = "; ".join(
            f"{e.name} (uses {', '.join(e.component.uses) or 'nothing'})" for e in registry.category("experiment")
        )
        raise PlanError(
            f"no experiment uses {', '.join(swept)}; name experiments with --experiments"
            f" (registered: {described or 'none'})"
        )
    return chosen


#: dataset params that ``--data-path`` sets, the first one a dataset has
DATA_PATH_PARAMS: tuple[str, ...] = ("path", "directory")


def data_path_param(params: Mapping[str, Any]) -> str | None:
    """The param of a dataset that ``--data-path`` sets (``path``, else ``directory``), or None."""
    return next((p for p in DATA_PATH_PARAMS if p in params), None)


def _params(
    experiment: str,
    components: Mapping[str, str],
    registry: Registry,
    settings: Mapping[_Target, Mapping[str, Any]],
    data_path: str | None,
    include: Include | None,
) -> dict[str, Any]:
    """Complete params of one run: defaults, then settings, then --data-path, then the include's."""
    exp_entry = registry.get("experiment", experiment)
    params: dict[str, Any] = {
        **exp_entry.component.params,
        **settings.get(_Target("experiment", experiment), {}),
    }
    for category, name in components.items():
        component = registry.get(category, name).component
        values = dict(component.params)
        if category == "dataset" and data_path is not None:
            where = data_path_param(component.params)
            if where is not None:
                values[where] = data_path
        values.update(settings.get(_Target(category, name), {}))
        params.update({f"{name}.{p}": v for p, v in values.items()})
    if include is not None:
        for param, value in include.params.items():
            where = f"[[include]] {experiment}: {param}"
            if param in exp_entry.component.params:
                params[param] = coerce_value(exp_entry.component.params[param], value, where)
                continue
            owner, dot, bare = param.rpartition(".")
            category = next((c for c, n in components.items() if n == owner), None)
            if not dot or category is None or bare not in registry.get(category, owner).component.params:
                valid = [*exp_entry.component.params, *(p for p in params if "." in p)]
                raise PlanError(f"{where}: not a param of this combination; params: {', '.join(valid) or 'none'}")
            default = registry.get(category, owner).component.params[bare]
            params[param] = coerce_value(default, value, where)
    return params


def _runs_for(
    experiment: str,
    components: Mapping[str, str],
    params: Mapping[str, Any],
    registry: Registry,
    spec: SweepSpec,
) -> Iterable[PlannedRun]:
    versions = {c: registry.get(c, n).version for c, n in components.items()}
    versions["experiment"] = registry.get("experiment", experiment).version
    for device, threads in itertools.product(spec.devices, spec.threads):
        for repeat in range(spec.repeat):
            # each repeat gets its own seed, so repeats of a training run differ
            seed = spec.seed + repeat
            yield PlannedRun(
                key=run_key(experiment, components, versions, params, device, spec.dtype, seed, repeat, threads),
                experiment=experiment,
                components=dict(components),
                params=dict(params),
                device=device,
                dtype=spec.dtype,
                seed=seed,
                repeat=repeat,
                component_versions=dict(versions),
                threads=threads,
            )


def _check_basics(spec: SweepSpec, registry: Registry) -> None:
    if spec.dtype not in DTYPES:
        raise PlanError(f"dtype {spec.dtype!r} is not supported; valid: {', '.join(DTYPES)}")
    if spec.repeat < 1:
        raise PlanError(f"repeat must be at least 1, not {spec.repeat}")
    if not spec.devices:
        raise PlanError("no device given; e.g. --device cpu")
    if not (spec.plugins or spec.components or spec.experiments or spec.includes):
        raise PlanError(
            "nothing to sweep: name categories with --plugins (one or more of"
            f" {', '.join(registry.component_categories())}), experiments with --experiments,"
            " or [[include]] combinations in --config"
        )


def plan(spec: SweepSpec, registry: Registry) -> list[PlannedRun]:
    """Every run of ``spec``, in a stable order, duplicates collapsed by key.

    Raises :class:`PlanError` for anything unknown or malformed (a category,
    component, experiment, setting target, param, or value), before any run
    exists.
    """
    _check_basics(spec, registry)
    choices, swept = _choices(spec, registry)
    experiments = _experiments(spec, registry, swept)
    settings = _resolve_settings(spec.settings, registry)

    runs: dict[str, PlannedRun] = {}

    def add(experiment: str, components: Mapping[str, str], include: Include | None) -> None:
        params = _params(experiment, components, registry, settings, spec.data_path, include)
        for run in _runs_for(experiment, components, params, registry, spec):
            runs.setdefault(run.key, run)

    for experiment in experiments:
        uses = registry.get("experiment", experiment).component.uses
        options = [_component_for(c, choices, registry, experiment) for c in uses]
        for combination in itertools.product(*options):
            add(experiment, dict(zip(uses, combination)), None)

    for include in spec.includes:
        _check_component(registry, "experiment", include.experiment, "[[include]] experiment")
        uses = registry.get("experiment", include.experiment).component.uses
        extra = sorted(set(include.components) - set(uses))
        if extra:
            raise PlanError(
                f"[[include]] {include.experiment}: it does not use {', '.join(extra)};"
                f" it uses {', '.join(uses) or 'no components'}"
            )
        components: dict[str, str] = {}
        for category in uses:
            if category in include.components:
                name = include.components[category]
                _check_component(registry, category, name, f"[[include]] {include.experiment}")
                components[category] = name
            else:
                narrowed = choices.get(category, ())
                pick = narrowed if len(narrowed) == 1 else _component_for(category, {}, registry, include.experiment)
                components[category] = pick[0]
        add(include.experiment, components, include)

    if spec.data_path is not None and not any(
        data_path_param(registry.get("dataset", r.components["dataset"]).component.params)
        for r in runs.values()
        if "dataset" in r.components
    ):
        with_path = [e.name for e in registry.category("dataset") if data_path_param(e.component.params)]
        raise PlanError(
            f"--data-path: no planned run uses a dataset that reads a path;"
            f" datasets with a path: {_valid(with_path)}"
        )

    planned = list(runs.values())
    if spec.only_keys is not None:
        wanted = set(spec.only_keys)
        planned = [r for r in planned if r.key in wanted]
    return planned


def plan_warnings(spec: SweepSpec, runs: Sequence[PlannedRun], registry: Registry) -> list[str]:
    """What in ``spec`` has no effect on ``runs``: settings for an experiment or
    component no run uses, and swept categories no planned experiment uses
    (probably not what the user meant, but not an error)."""
    used_experiments = {r.experiment for r in runs}
    used_components = {(c, n) for r in runs for c, n in r.components.items()}
    used_categories = {c for r in runs for c in r.components}
    targets = _targets(registry)
    warnings = []
    for text, params in spec.settings.items():
        target = _resolve_target(text, registry, targets)
        in_use = (
            target.name in used_experiments
            if target.category == "experiment"
            else (target.category, target.name) in used_components
        )
        if not in_use:
            warnings.extend(f"-s {text}.{p} is not used by any planned run" for p in params)
    for category in dict.fromkeys((*spec.plugins, *spec.components)):
        if category not in used_categories:
            warnings.append(f"{category} is swept but none of the planned experiments uses it")
    return warnings
