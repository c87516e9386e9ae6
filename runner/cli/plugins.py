"""``runner plugins``: what is installed and what it registers; ``runner plugins new``: a new plugin package."""

from __future__ import annotations

import json
from pathlib import Path

import click


def plugins_payload(plugins) -> dict:
    """The JSON form of ``runner plugins``: components by category, and every plugin."""
    components = {
        category: [
            {
                "name": entry.name,
                "plugin": entry.plugin,
                "distribution": entry.distribution,
                "version": entry.version,
                "description": entry.component.summary,
                "params": dict(entry.component.params),
            }
            for entry in plugins.registry.category(category)
        ]
        for category in (c.name for c in plugins.registry.categories())
    }
    return {
        "components": components,
        "plugins": [
            {
                "name": i.name,
                "source": i.source,
                "distribution": i.distribution,
                "version": i.version,
                "status": i.status,
                "error": i.error,
                "components": i.components,
            }
            for i in plugins.infos
        ],
    }


@click.group(name="plugins", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.option("--wide", is_flag=True, help="Show distributions, versions and whole descriptions.")
@click.pass_context
def plugins_list(ctx: click.Context, as_json: bool, wide: bool) -> None:
    """List every component by category with its plugin and description (one line
    each; --wide adds distribution and version and shows whole descriptions), then
    every plugin with its status (ok, failed, disabled).
    ``runner plugins new NAME`` starts a new plugin package.

    \b
    Examples:
      runner plugins
      runner plugins --wide
      runner --plugin my_module plugins --json
      runner plugins new my-matmuls
    """
    if ctx.invoked_subcommand is not None:
        return
    state = ctx.obj
    payload = plugins_payload(state.plugins)
    if as_json:
        click.echo(json.dumps(payload, indent=2, default=str))
        return
    from rich.console import Console
    from rich.text import Text

    from scratchlab.core.textsafe import printable

    console = Console(soft_wrap=False)
    for category, rows in payload["components"].items():
        console.print(_components_table(category, rows, wide))
        console.print()
    console.print(_plugins_table(payload["plugins"], wide))
    for info in payload["plugins"]:
        if info["error"]:  # said in full below the table, where it can wrap
            console.print(Text(printable(f"{info['name']}: {info['error']}"), style="red"))


#: columns of ``runner plugins``' component tables: (name, shown without --wide)
COMPONENT_COLUMNS: tuple[tuple[str, bool], ...] = (
    ("name", True),
    ("plugin", True),
    ("distribution", False),
    ("version", False),
    ("description", True),
)


def _components_table(category: str, rows: list[dict], wide: bool):
    """One category's components. Names, plugins and versions never break (they are
    what a user types); a description wraps at words with ``wide``, else is cut to
    one line (``--wide`` or ``--json`` show it whole)."""
    from rich.table import Table
    from rich.text import Text

    from scratchlab.core.textsafe import printable

    table = Table(title=category, title_justify="left", show_edge=False)
    shown = [c for c, plain in COMPONENT_COLUMNS if wide or plain]
    for column in shown:
        # a column that can wrap is the one rich narrows when the table is too wide
        table.add_column(column, no_wrap=column != "description")
    for row in rows:
        cells = []
        for column in shown:
            text = printable(str(row[column] or ""))
            if column == "plugin":
                text = plugin_label(text)
            if column == "description":
                overflow = "fold" if wide else "ellipsis"
                cells.append(Text(" ".join(text.split()), no_wrap=not wide, overflow=overflow))
            else:
                cells.append(Text(text))
        table.add_row(*cells)
    if not rows:
        table.add_row("(none)", *[""] * (len(shown) - 1))
    return table


def plugin_label(plugin: str) -> str:
    """How a table names the plugin a component or experiment comes from: ``built-in``
    for scratchlab's own, else the plugin's name."""
    return "built-in" if plugin.startswith("scratchlab.") else plugin


def _plugins_table(plugins: list[dict], wide: bool):
    """Every plugin with its source, version and status (``wide``: its distribution
    too); errors are printed below it by the caller."""
    from rich.table import Table
    from rich.text import Text

    from scratchlab.core.textsafe import printable

    table = Table(title="plugins", title_justify="left", show_edge=False)
    columns = ["name", "source", *(["distribution"] if wide else []), "version", "status"]
    for column in columns:
        table.add_column("plugin" if column == "name" else column, no_wrap=True)
    for info in plugins:
        style = {"failed": "red", "disabled": "yellow"}.get(info["status"])
        table.add_row(*(Text(printable(str(info[c] or ""))) for c in columns), style=style)
    return table


@plugins_list.command(name="new")
@click.argument("name")
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create the package folder NAME.",
)
@click.option(
    "--description", help="One line saying what the plugin adds (pyproject, README, docstring)."
)
def plugins_new(name: str, directory: Path, description: str | None) -> None:
    """Create a plugin package in folder NAME: a pyproject with the ``scratchlab``
    entry point, the package ``scratchlab_NAME`` with one example matmul, a test
    that runs it through the real engine (``scratchlab.testing``) and a README.

    \b
    Examples:
      runner plugins new demo
      pip install -e './demo[test]'
      runner sweep --experiments matmul --matmul demo,torch
        -s matmul.shapes=64x784x50
      cd demo && pytest
    """
    from scratchlab.runner.cli.scaffold import Names, ScaffoldError, write_package

    try:
        names = Names.of(name, description)
    except ScaffoldError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    registry = click.get_current_context().obj.plugins.registry
    if names.name in registry.names("matmul"):
        owner = registry.get("matmul", names.name).plugin
        raise click.BadParameter(
            f"{names.name!r} is already a matmul (from plugin {owner!r}); "
            "the new one would be dropped as a duplicate: pick another name",
            param_hint="NAME",
        )
    folder = directory / name
    shown = (
        folder if folder.is_absolute() else f"./{folder}"
    )  # pip takes ./demo as a path, demo as a name
    try:
        written = write_package(folder, names)
    except ScaffoldError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {folder}: {exc.strerror or exc}") from None
    click.echo(
        f"Created {shown}: distribution {names.distribution}, module {names.module}, matmul {names.name!r}"
    )
    for path in written:
        click.echo(f"  {path}")
    click.echo("Next:")
    click.echo(f"  pip install -e '{shown}[test]'")
    # two lines, the first ending in a backslash: one command to paste, and 80 columns wide
    click.echo(f"  runner sweep --experiments matmul --matmul {names.name},torch \\")
    click.echo("      -s matmul.shapes=64x784x50")
    click.echo(f"  cd {shown} && pytest")
