"""tags on runs and sweeps, a note per run

- ``run_tags`` and ``sweep_tags``: free-text labels (``runner tag``,
  ``runner sweep --tag``), one row per (run or sweep, tag), indexed by tag so
  ``--where tag=T`` is an index seek. Two tables rather than one with two
  nullable keys: each row then has a real foreign key that deletes it with
  its run or sweep, and the primary key is the natural one.
- ``runs.note``: one free-text note per run (``runner note``), beside
  ``reason``, which stays what the run itself said.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Frozen copy of the column type at this revision (see 0001).
NAME = sa.String(255)


def _tag_table(owner: str) -> None:
    key = f"{owner}_id"
    table = f"{owner}_tags"
    op.create_table(
        table,
        sa.Column(
            key,
            sa.Integer(),
            sa.ForeignKey(f"{owner}s.{key}", name=f"fk_{table}_{key}_{owner}s", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("tag", NAME, nullable=False),
        sa.PrimaryKeyConstraint(key, "tag", name=f"pk_{table}"),
    )
    op.create_index(f"ix_{table}_tag_{key}", table, ["tag", key])


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch: recreating runs would cascade-delete
    # its params, timings and metrics (foreign keys are on).
    op.add_column("runs", sa.Column("note", sa.Text(), nullable=True))
    _tag_table("run")
    _tag_table("sweep")


def downgrade() -> None:
    for table, key in (("sweep_tags", "sweep_id"), ("run_tags", "run_id")):
        op.drop_index(f"ix_{table}_tag_{key}", table_name=table)
        op.drop_table(table)
    # Plain DROP COLUMN (SQLite >= 3.35), not a batch, for the reason above.
    op.drop_column("runs", "note")
