"""sweep owners and heartbeats, timing quality, machine calibrations, activation histograms

- ``sweeps.owner_host``/``owner_pid``/``heartbeat_at``: which process runs a
  sweep and when it last said so, so ``--resume`` can refuse a live sweep and
  take over a crashed one (Optuna's heartbeat).
- ``timings.quality`` (``ok`` or ``noisy``) with its evidence in
  ``timings.quality_json``: a timing taken on a busy machine says so.
- ``calibrations``: the quiet time of a fixed reference kernel per machine and
  thread count, the yardstick the quality verdict compares against.
- ``activation_histograms``: binned activation counts per layer and step (the
  lessons' "colorful dimension"), one row per layer and step, not per value.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Frozen copies of the column types at this revision (see 0001).
REAL = sa.Float(precision=53)
TIME = sa.DateTime(timezone=True)
NAME = sa.String(255)
SHORT = sa.String(32)


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch: recreating sweeps or timings would
    # cascade-delete their runs or replicates (foreign keys are on).
    op.add_column("sweeps", sa.Column("owner_host", NAME, nullable=True))
    op.add_column("sweeps", sa.Column("owner_pid", sa.Integer(), nullable=True))
    op.add_column("sweeps", sa.Column("heartbeat_at", TIME, nullable=True))
    op.add_column("timings", sa.Column("quality", SHORT, nullable=False, server_default="ok"))
    op.add_column("timings", sa.Column("quality_json", sa.Text(), nullable=True))
    op.create_table(
        "calibrations",
        sa.Column("calibration_id", sa.Integer(), nullable=False),
        sa.Column("machine", NAME, nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("probe_s", REAL, nullable=True),
        sa.Column("measured_at", TIME, nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("calibration_id", name="pk_calibrations"),
        sa.UniqueConstraint("machine", "threads", name="uq_calibrations_machine_threads"),
    )
    op.create_table(
        "activation_histograms",
        sa.Column("activation_histogram_id", sa.Integer(), nullable=False),
        sa.Column(
            "run_id",
            sa.Integer(),
            sa.ForeignKey("runs.run_id", name="fk_activation_histograms_run_id_runs", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("model", NAME, nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        sa.Column("lo", REAL, nullable=True),
        sa.Column("hi", REAL, nullable=True),
        sa.Column("counts_json", sa.Text(), nullable=False),
        sa.Column("frac_near_zero", REAL, nullable=True),
        sa.PrimaryKeyConstraint("activation_histogram_id", name="pk_activation_histograms"),
    )
    op.create_index(
        "ix_activation_histograms_run_id_model_layer", "activation_histograms", ["run_id", "model", "layer"]
    )


def downgrade() -> None:
    op.drop_index("ix_activation_histograms_run_id_model_layer", table_name="activation_histograms")
    op.drop_table("activation_histograms")
    op.drop_table("calibrations")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35), not a batch: a batch
    # recreates the table, and with foreign keys on, dropping sweeps or timings
    # would cascade into runs or timing_replicates.
    for table, column in (
        ("timings", "quality_json"),
        ("timings", "quality"),
        ("sweeps", "heartbeat_at"),
        ("sweeps", "owner_pid"),
        ("sweeps", "owner_host"),
    ):
        op.drop_column(table, column)
