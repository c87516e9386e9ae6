"""``--<category> NAMES`` options for categories that plugins add.

Built-in categories have their own click options. A plugin's category is
known only once plugins load, after click has parsed the command line, so
``runner sweep`` leaves unknown options to :func:`category_choices`, which
reads ``--optimizer sgd,momentum`` (or ``--optimizer=sgd,momentum``) for every
category in the registry and refuses anything else in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from scratchlab.runner.plan import split_names


def category_choices(args: Sequence[str], registry: Any) -> dict[str, tuple[str, ...]]:
    """Category -> component names from the leftover ``args``; ``click.UsageError``
    for an option that is no category's, a missing value, or a stray argument."""
    known = set(registry.component_categories())
    chosen: dict[str, tuple[str, ...]] = {}
    items = list(args)
    while items:
        token = items.pop(0)
        if not token.startswith("--") or token == "--":
            raise click.UsageError(f"unexpected argument {token!r}")
        name, eq, value = token[2:].partition("=")
        if name not in known:
            raise click.UsageError(
                f"no such option: --{name} (categories from plugins: {', '.join(sorted(known)) or 'none'})"
            )
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
