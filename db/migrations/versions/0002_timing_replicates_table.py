"""store timing replicates one row each

Moves every timing's replicates out of the ``timings.replicates_json`` list
into ``timing_replicates`` (timing, replicate index, seconds), so confidence
intervals and significance tests can select them in SQL.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import json
import math

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

timings = sa.table(
    "timings",
    sa.column("timing_id", sa.Integer()),
    sa.column("replicates_json", sa.Text()),
)
replicates = sa.table(
    "timing_replicates",
    sa.column("timing_id", sa.Integer()),
    sa.column("replicate", sa.Integer()),
    sa.column("seconds", sa.Float(precision=53)),
)


def _stored(value: float | None) -> float | None:
    # NaN is stored as NULL (see scratchlab.db.sqltypes.Real)
    return None if value is None or math.isnan(value) else float(value)


def upgrade() -> None:
    bind = op.get_bind()
    rows = [
        {"timing_id": timing_id, "replicate": index, "seconds": _stored(seconds)}
        for timing_id, text in bind.execute(sa.select(timings.c.timing_id, timings.c.replicates_json))
        for index, seconds in enumerate(json.loads(text))
    ]
    # Drop the column before the new table references timings: on SQLite the batch
    # recreates timings (DROP TABLE), and with foreign keys on, that would cascade
    # into timing_replicates.
    with op.batch_alter_table("timings") as batch:
        batch.drop_column("replicates_json")
    op.create_table(
        "timing_replicates",
        sa.Column(
            "timing_id",
            sa.Integer(),
            sa.ForeignKey(
                "timings.timing_id", name="fk_timing_replicates_timing_id_timings", ondelete="CASCADE"
            ),
            nullable=False,
        ),
        sa.Column("replicate", sa.Integer(), nullable=False),
        sa.Column("seconds", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("timing_id", "replicate", name="pk_timing_replicates"),
    )
    if rows:
        bind.execute(replicates.insert(), rows)


def downgrade() -> None:
    bind = op.get_bind()
    lists: dict[int, list[float]] = {}
    for timing_id, _, seconds in bind.execute(
        sa.select(replicates.c.timing_id, replicates.c.replicate, replicates.c.seconds).order_by(
            replicates.c.timing_id, replicates.c.replicate
        )
    ):
        lists.setdefault(timing_id, []).append(math.nan if seconds is None else seconds)
    op.drop_table("timing_replicates")
    with op.batch_alter_table("timings") as batch:
        batch.add_column(sa.Column("replicates_json", sa.Text(), nullable=False, server_default="[]"))
    for timing_id, values in lists.items():
        bind.execute(
            timings.update().where(timings.c.timing_id == timing_id).values(replicates_json=json.dumps(values))
        )
    with op.batch_alter_table("timings") as batch:
        batch.alter_column("replicates_json", server_default=None)
