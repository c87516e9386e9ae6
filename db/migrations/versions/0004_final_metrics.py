"""final metrics: each run's final value of each metric, kept beside the history

``final_metrics(run_id, name, step, value)``, primary key ``(run_id, name)``,
indexed by ``(name, value)``: a filter or sort on a final metric over 100,000
runs is a range scan of that index instead of a seek into ``metrics`` per run.
Filled here from the stored histories with the same rule the write path uses
(highest step; a step-less value counts as final; the last written wins).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Frozen copies of the column types at this revision (see 0001).
REAL = sa.Float(precision=53)
NAME = sa.String(255)

#: the final row of every (run, name): a frozen copy of scratchlab.db.final.BACKFILL
BACKFILL = """
INSERT INTO final_metrics (run_id, name, step, value)
SELECT run_id, name, step, value FROM (
    SELECT run_id, name, step, value,
           row_number() OVER (
               PARTITION BY run_id, name
               ORDER BY CASE WHEN step IS NULL THEN 1 ELSE 0 END DESC, step DESC, metric_id DESC
           ) AS rn
    FROM metrics
) AS ranked
WHERE rn = 1
"""


def upgrade() -> None:
    op.create_table(
        "final_metrics",
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.run_id", name="fk_final_metrics_run_id_runs", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", NAME, nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("value", REAL, nullable=True),
        sa.PrimaryKeyConstraint("run_id", "name", name="pk_final_metrics"),
    )
    op.create_index("ix_final_metrics_name_value", "final_metrics", ["name", "value"])
    op.execute(BACKFILL)


def downgrade() -> None:
    op.drop_index("ix_final_metrics_name_value", table_name="final_metrics")
    op.drop_table("final_metrics")
