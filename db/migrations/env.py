"""Alembic environment, configured in code by :mod:`scratchlab.db.schema`.

Online, the migrations run on the connection the caller put in
``config.attributes["connection"]``, inside the caller's transaction (which
holds the schema lock). Offline (``--sql``), they render SQL for the URL in
the config's ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context

from scratchlab.db.models import metadata
from scratchlab.db.schema import VERSION_TABLE

OPTIONS = {
    "target_metadata": metadata,
    "version_table": VERSION_TABLE,
    # SQLite cannot ALTER most things: batch mode recreates the table instead
    "render_as_batch": True,
    "compare_type": True,
}


def run_offline() -> None:
    """Render the migrations as SQL."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"), literal_binds=True, **OPTIONS
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    """Apply the migrations on the caller's connection."""
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
