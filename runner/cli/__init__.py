"""The ``runner`` command line.

Sub-commands live in :mod:`scratchlab.runner.cli` and are imported only
when invoked, so ``runner --help`` stays fast and never imports torch.
"""

from __future__ import annotations

import gc
import importlib
import importlib.util
import logging
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from scratchlab.core.keys import DB_ENV_VAR, DEFAULT_DB_FILE

if TYPE_CHECKING:
    from scratchlab.plugins.manager import Plugins

#: command name -> "module:attribute" of the click command
LAZY_COMMANDS: dict[str, str] = {
    "sweep": "scratchlab.runner.cli.sweep:sweep_run",
    "plugins": "scratchlab.runner.cli.plugins:plugins_list",
    "runs": "scratchlab.runner.cli.runs:runs_list",
    "show": "scratchlab.runner.cli.runs:run_show",
    "compare": "scratchlab.runner.cli.compare:runs_compare",
    "export": "scratchlab.runner.cli.export:table_export",
    "report": "scratchlab.runner.cli.report:report_serve",
    "db": "scratchlab.runner.cli.db:db_group",
    "sweeps": "scratchlab.runner.cli.manage:sweeps_list",
    "tag": "scratchlab.runner.cli.manage:runs_tag",
    "note": "scratchlab.runner.cli.manage:run_note",
    "rm": "scratchlab.runner.cli.manage:runs_remove",
    "importance": "scratchlab.runner.cli.analysis:importance_show",
}

#: one-line help shown by ``runner --help`` without importing the command
SHORT_HELP: dict[str, str] = {
    "sweep": "Run every combination of components and store the results.",
    "plugins": "List plugins and the components they register.",
    "runs": "List runs, filtered, as a table, JSON or CSV.",
    "show": "Show one run: params, timings, statistics, metrics, error.",
    "compare": "Compare runs side by side, with speed-ups against a baseline.",
    "export": "Export a results table as CSV, Parquet or JSON.",
    "report": "Open the Streamlit report app on the database.",
    "db": "Create, upgrade or inspect the results database schema.",
    "sweeps": "List sweeps: id, name, status, runs per status, start, duration.",
    "tag": "Tag runs or a sweep (then filter with --where tag=T).",
    "note": "Set or show a run's note.",
    "rm": "Delete runs or a sweep with everything they recorded.",
    "importance": "Rank categories and params by how much they matter to a metric.",
}


@dataclass
class AppState:
    """What the top-level options set; handed to every command as ``ctx.obj``."""

    db: str | None = None
    verbose: int = 0
    plugin_modules: tuple[str, ...] = ()
    _plugins: Plugins | None = field(default=None, repr=False)

    @property
    def db_url(self) -> str:
        """The database URL by the one rule (:func:`scratchlab.db.engine.resolve_url`);
        resolved on first use, so commands that open no database never import SQLAlchemy."""
        from scratchlab.db.engine import resolve_url

        return resolve_url(self.db)

    @property
    def plugins(self) -> Plugins:
        """Load the plugins once; report failed ones as one warning line each on stderr."""
        if self._plugins is None:
            # imported here: the read commands (``runner runs``, ``show``) never load plugins
            from scratchlab.plugins.manager import PluginError, load_plugins

            try:
                self._plugins = load_plugins(self.plugin_modules)
            except PluginError as exc:
                raise click.ClickException(str(exc)) from None
            for info in self._plugins.failures:
                if (
                    info.source == "module"
                ):  # named on this command line: a mistake, not an environment problem
                    raise click.UsageError(f"--plugin {info.name}: {info.error}")
                click.echo(f'warning: skipped plugin "{info.name}": {info.error}', err=True)
            for warning in self._plugins.warnings:
                click.echo(f"warning: {warning}", err=True)
        return self._plugins


def _available(target: str) -> bool:
    module = target.partition(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Names of the commands whose modules are installed."""
        return sorted(n for n, target in LAZY_COMMANDS.items() if _available(target))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return one command, or None if it does not exist."""
        target = LAZY_COMMANDS.get(cmd_name)
        if target is None or not _available(target):
            return None
        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List commands with their short help, without importing them."""
        rows = [(name, SHORT_HELP.get(name, "")) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "db",
    metavar="URL",
    default=None,
    show_default=f"{DEFAULT_DB_FILE} in the working directory",
    help=f"SQLAlchemy URL or SQLite file of the results database (env {DB_ENV_VAR}).",
)
@click.option(
    "--plugin",
    "plugin_modules",
    multiple=True,
    metavar="MODULE",
    help="Load a plugin from an importable module that is not installed (repeatable).",
)
@click.option("-v", "--verbose", count=True, help="More log output (repeat for more).")
# the version is looked up (importlib.metadata, ~30 ms) only when --version is given
@click.version_option(None, "--version", package_name="scratchlab", prog_name="scratchlab")
@click.pass_context
def cli(ctx: click.Context, db: str | None, plugin_modules: tuple[str, ...], verbose: int) -> None:
    """scratchlab: run neural-network building blocks written from scratch,
    every combination, and keep the results in a database.

    \b
    Examples:
      runner plugins
      runner sweep --plugins matmul,init
      runner sweep --plugins matmul --matmul torch,einsum
        -s matmul.shapes=64x784x50
      runner runs --status failed
      runner report
    """
    logging.basicConfig(
        level=logging.WARNING - 10 * min(verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    ctx.obj = AppState(db=db, verbose=verbose, plugin_modules=plugin_modules)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    from scratchlab.runner.isolation import exit_past_left_threads

    try:
        return cli.main(args=argv, prog_name="runner")
    except SystemExit as exc:
        exit_past_left_threads(exc.code)  # a thread an --inline run left would hold the exit
        # what is alive now lives until the exit: the interpreter's last collection would
        # walk every object torch and pandas made (about 0.35 s) only to free memory the
        # exit frees anyway. Objects that die now are still freed, and atexit still runs.
        gc.freeze()
        raise
