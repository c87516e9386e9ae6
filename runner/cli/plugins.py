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
@click.pass_context
def plugins_list(ctx: click.Context, as_json: bool) -> None:
    """List every component by category with its plugin, distribution, version
    and description, then every plugin with its status (ok, failed, disabled).
    ``runner plugins new NAME`` starts a new plugin package.

    \b
    Examples:
      runner plugins
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
    from rich.markup import escape
    from rich.table import Table

    console = Console(soft_wrap=False)
    for category, rows in payload["components"].items():
        table = Table(title=category, title_justify="left", show_edge=False)
        for column in ("name", "plugin", "distribution", "version", "description"):
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(
                *(
                    escape(str(row[c] or ""))
                    for c in ("name", "plugin", "distribution", "version", "description")
                )
            )
        if not rows:
            table.add_row("(none)", "", "", "", "")
        console.print(table)
        console.print()
    table = Table(title="plugins", title_justify="left", show_edge=False)
    for column in ("plugin", "source", "distribution", "version", "status", "error"):
        table.add_column(column, overflow="fold")
    for info in payload["plugins"]:
        style = {"failed": "red", "disabled": "yellow"}.get(info["status"])
        cells = (
            info[c] or "" for c in ("name", "source", "distribution", "version", "status", "error")
        )
        table.add_row(*(escape(str(c)) for c in cells), style=style)
    console.print(table)


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
      pip install -e ./demo
      runner sweep --experiments matmul --matmul demo,torch -s matmul.shapes=64x784x50
      cd demo && pytest
    """
    from scratchlab.runner.cli.scaffold import Names, ScaffoldError, write_package

    try:
        names = Names.of(name, description)
    except ScaffoldError as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
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
    click.echo(f"  pip install -e {shown}")
    click.echo(
        f"  runner sweep --experiments matmul --matmul {names.name},torch -s matmul.shapes=64x784x50"
    )
    click.echo(f"  cd {shown} && pytest")
