"""final metrics: the (name, value) index also holds run_id

A filter on a final metric combined with anything on ``runs``
(``--experiment train --where valid_accuracy>=0.85``) needs the run id of
every matching ``final_metrics`` row. With ``run_id`` in the index, that is
read from the index itself instead of one table lookup per row: counting the
60,000 matching runs of the 100,000-run benchmark database went from 0.3 s to
a few hundredths.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_final_metrics_name_value_run_id", "final_metrics", ["name", "value", "run_id"])
    op.drop_index("ix_final_metrics_name_value", table_name="final_metrics")


def downgrade() -> None:
    op.create_index("ix_final_metrics_name_value", "final_metrics", ["name", "value"])
    op.drop_index("ix_final_metrics_name_value_run_id", table_name="final_metrics")
