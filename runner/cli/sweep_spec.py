"""From ``runner sweep``'s parsed options to what the engine takes: the
:class:`~scratchlab.runner.spec.SweepSpec` (a config file overridden by the flags),
the :class:`~scratchlab.runner.search.SearchSpec` of a search, and the checks of
which options go together. A mistake is a ``click.UsageError`` (exit 2, one line).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scratchlab.runner.cli.sweep_options import OPTION_CATEGORIES, PLAN_OPTIONS, option_flag
from scratchlab.runner.spec import PlanError, SweepSpec
from scratchlab.runner.spec_config import load_config, merge_spec_args
from scratchlab.runner.spec_values import add_setting, parse_setting, parse_threads, split_names

if TYPE_CHECKING:
    from scratchlab.runner.search import SearchSpec
    from scratchlab.runner.sweeping import Execution


def check_combinations(options: Mapping[str, Any]) -> None:
    """Refuse options that cannot go together: --resume with --rerun-failed, --name
    or an option that shapes the plan (a stored sweep replays its own plan)."""
    # --workers with --scheduler ADDRESS, --inline with either: Execution checks those
    stored = [o for o in ("resume", "rerun_failed") if options[o] is not None]
    if len(stored) > 1:
        raise click.UsageError("give --resume or --rerun-failed, not both")
    if options["resume"] is not None and options["name"] is not None:
        raise click.UsageError(
            "--resume continues a sweep under its own name; --name cannot be combined with it"
        )
    if stored:
        given = [option_flag(o) for o in PLAN_OPTIONS if options[o] not in (None, (), False)]
        if given:
            raise click.UsageError(
                f"{option_flag(stored[0])} replays a stored sweep's plan; it cannot be combined with {', '.join(given)}"
            )


def _data_path(value: str | None) -> str | None:
    """An existing local path made absolute (workers may run elsewhere); a URL as given."""
    if value is None or "://" in value:
        return value
    path = Path(value).expanduser()
    if not path.exists():
        raise click.BadParameter(f"{value} does not exist", param_hint="--data-path")
    return str(path.resolve())


def build_spec(
    options: Mapping[str, Any], plugin_modules: Sequence[str]
) -> tuple[SweepSpec, str | None]:
    """The spec from a config file (if any) overridden by the flags given; and the file's
    name. A spec that cannot be made is a usage error."""
    try:
        file_args = load_config(options["config"]) if options["config"] is not None else {}
        merged = merge_spec_args(file_args, _flag_args(options))
        name = merged.pop("name", None)
        if merged.get("data_path") is not None and options["data_path"] is None:
            # a path in the config file is relative to the file, not to where the command runs
            base = Path(options["config"]).parent
            merged["data_path"] = _data_path(str(base / merged["data_path"]))
        return SweepSpec(**merged, plugin_modules=tuple(plugin_modules)), name
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None


def _names(value: str | None) -> tuple[str, ...] | None:
    return None if value is None else split_names(value)


def _flag_args(options: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's arguments the flags give (None: not given, the config file's or the default)."""
    settings: dict[str, dict[str, Any]] = {}
    for text in options["settings"]:
        target, param, value = parse_setting(text)
        add_setting(settings, target, param, value, "-s")
    components = {
        c: split_names(options[f"select_{c}"])
        for c in OPTION_CATEGORIES
        if options[f"select_{c}"] is not None
    }
    components.update(options.get("plugin_categories") or {})  # categories plugins add
    return {
        "plugins": _names(options["categories"]),
        "components": components or None,
        "experiments": _names(options["experiments"]),
        "devices": _names(options["devices"]),
        "dtype": options["dtype"],
        "repeat": options["repeat"],
        "seed": options["seed"],
        "data_path": _data_path(options["data_path"]),
        "settings": settings or None,
        "threads": parse_threads(options["threads"]) if options["threads"] is not None else None,
        "deterministic": True if options["deterministic"] else None,
        "max_runs": options.get("max_runs"),
    }


def build_execution(options: Mapping[str, Any]) -> Execution:
    """How the runs execute (backend and limits); ``Execution`` refuses options that do
    not go together (--inline with --workers or --scheduler)."""
    from scratchlab.runner.sweeping import Execution

    return Execution(
        workers=options["workers"],
        scheduler=options["scheduler"],
        inline=options["inline"],
        timeout=options["timeout"],
        fail_fast=options["fail_fast"],
        retry_noisy=options["retry_noisy"],
        max_runs_per_worker=options["max_runs_per_worker"],
    )


def search_spec(options: Mapping[str, Any]) -> SearchSpec | None:
    """The :class:`~scratchlab.runner.search.SearchSpec` that --search, --trials, --objective
    and --prune ask for, or None for a grid; a usage error for a half-given search."""
    from scratchlab.runner.search import SearchSpec, parse_objective

    given = [o for o in ("trials", "objective", "prune") if options[o] is not None]
    if options["search"] is None:
        if given:
            raise click.UsageError(f"{option_flag(given[0])} needs --search random or --search tpe")
        return None
    missing = [f"--{o}" for o in ("trials", "objective") if options[o] is None]
    if missing:
        raise click.UsageError(f"--search needs {' and '.join(missing)}")
    try:
        name, direction = parse_objective(options["objective"])
        return SearchSpec(
            method=options["search"],
            trials=options["trials"],
            objective=name,
            direction=direction,
            prune=options["prune"] or "none",
        )
    except PlanError as exc:
        raise click.UsageError(str(exc)) from None
