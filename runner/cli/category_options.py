"""``--<category> NAMES`` options for categories that plugins add.

Built-in categories (and those scratchlab's own training plugins add) have
their own click options. An installed plugin's category is known only once
plugins load, after click has parsed the command line, so ``runner sweep``
leaves unknown options to :func:`category_choices`, which reads
``--optimizer sgd,momentum`` (or ``--optimizer=sgd,momentum``) for every
category in the registry and refuses anything else in one line; and its help
lists them through :class:`CategoryHelpCommand`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from scratchlab.plugins.categories import plural
from scratchlab.runner.spec_values import split_names


def category_choices(
    args: Sequence[str], registry: Any, options: Sequence[str] = ()
) -> dict[str, tuple[str, ...]]:
    """Category -> component names from the leftover ``args``; ``click.UsageError``
    for an option that is no category's (suggesting the closest of ``options``, the
    command's own, and the categories: ``--plugin`` -> ``--plugins``), a missing
    value, or a stray argument."""
    known = set(registry.component_categories())
    chosen: dict[str, tuple[str, ...]] = {}
    items = list(args)
    while items:
        token = items.pop(0)
        if not token.startswith("--") or token == "--":
            raise click.UsageError(f"unexpected argument {token!r}")
        name, eq, value = token[2:].partition("=")
        if name not in known:
            raise click.UsageError(unknown_option(name, known, options))
        if not eq:
            if not items or items[0].startswith("--"):
                raise click.UsageError(
                    f"option --{name} requires a value: component names, comma-separated"
                )
            value = items.pop(0)
        if name in chosen:
            raise click.UsageError(
                f"--{name} is given twice; list every component once: --{name} a,b"
            )
        chosen[name] = split_names(value)
    return chosen


def unknown_option(name: str, categories: Sequence[str], options: Sequence[str]) -> str:
    """The one line for ``--name``, an option nothing has: the closest option or
    category, when one is close, and where the options are listed."""
    import difflib

    candidates = [*options, *(f"--{c}" for c in categories)]
    close = difflib.get_close_matches(f"--{name}", candidates, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"no such option: --{name}{hint} (runner sweep --help lists every option)"


def category_help(category: Any, owner: str | None = None) -> str:
    """The help of a ``--<category> NAMES`` option."""
    source = f" (from plugin {owner})" if owner else ""
    default = f"  [default: {category.default}]" if category.default else ""
    return f"Sweep these {plural(category.name)}{source} (comma-separated) instead of all or the default.{default}"


def installed_categories(shown: Sequence[str]) -> list[tuple[str, str]]:
    """``("--<category> NAMES", help)`` for each category an installed plugin adds
    beyond ``shown``. Plugins are loaded only when a distribution declares one, so
    the help of a bare install imports none (nor torch)."""
    import importlib.metadata

    from scratchlab.plugins.manager import ENTRY_POINT_GROUP, load_plugins

    if not importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        return []
    registry = load_plugins().registry
    return [
        (f"--{c.name} NAMES", category_help(c, registry.category_owner(c.name)))
        for c in registry.categories()
        if c.is_component and c.name not in shown
    ]


class CategoryHelpCommand(click.Command):
    """A command whose help ends with the options of installed plugins' categories;
    ``shown`` names the categories it has options for already."""

    def __init__(self, *args: Any, shown: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.shown = tuple(shown)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command's options, then one section for installed plugins' categories."""
        super().format_options(ctx, formatter)
        rows = installed_categories(self.shown)
        if rows:
            with formatter.section("Categories from installed plugins"):
                formatter.write_dl(rows)
