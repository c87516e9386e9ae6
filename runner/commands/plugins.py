"""``runner plugins``: what is installed and what it registers."""

from __future__ import annotations

import json

import click

from scratchlab.plugins.types import CATEGORIES


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
        for category in CATEGORIES
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


@click.command(name="plugins")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.pass_obj
def plugins_list(state, as_json: bool) -> None:
    """List every component by category with its plugin, distribution, version
    and description, then every plugin with its status (ok, failed, disabled).

    \b
    Examples:
      runner plugins
      runner --plugin my_module plugins --json
    """
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
            table.add_row(*(escape(str(row[c] or "")) for c in ("name", "plugin", "distribution", "version", "description")))
        if not rows:
            table.add_row("(none)", "", "", "", "")
        console.print(table)
        console.print()
    table = Table(title="plugins", title_justify="left", show_edge=False)
    for column in ("plugin", "source", "distribution", "version", "status", "error"):
        table.add_column(column, overflow="fold")
    for info in payload["plugins"]:
        style = {"failed": "red", "disabled": "yellow"}.get(info["status"])
        cells = (info[c] or "" for c in ("name", "source", "distribution", "version", "status", "error"))
        table.add_row(*(escape(str(c)) for c in cells), style=style)
    console.print(table)
