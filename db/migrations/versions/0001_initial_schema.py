"""initial schema: sweeps, runs, params, timings, activation stats, metrics

Timing replicates are a JSON list in ``timings.replicates_json`` at this
revision; 0002 moves them into a table of their own.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the column types at this revision (never import the models here:
# they describe head, and a revision must keep describing its own schema).
REAL = sa.Float(precision=53)
TIME = sa.DateTime(timezone=True)
NAME = sa.String(255)
SHORT = sa.String(32)


def _run_fk(table: str) -> sa.Column:
    return sa.Column(
        "run_id",
        sa.Integer(),
        sa.ForeignKey("runs.run_id", name=f"fk_{table}_run_id_runs", ondelete="CASCADE"),
        nullable=False,
    )


def _reals(*names: str) -> list[sa.Column]:
    # nullable: NULL is how NaN is stored
    return [sa.Column(name, REAL, nullable=True) for name in names]


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("argv_json", sa.Text(), nullable=False),
        sa.Column("spec_json", sa.Text(), nullable=False),
        sa.Column("environment_json", sa.Text(), nullable=False),
        sa.Column("status", SHORT, nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("sweep_id", name="pk_sweeps"),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column(
            "sweep_id",
            sa.Integer(),
            sa.ForeignKey("sweeps.sweep_id", name="fk_runs_sweep_id_sweeps", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("key", NAME, nullable=False),
        sa.Column("experiment", NAME, nullable=False),
        sa.Column("device", sa.String(64), nullable=False),
        sa.Column("dtype", SHORT, nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("status", SHORT, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
        sa.UniqueConstraint("sweep_id", "key", name="uq_runs_sweep_id_key"),
    )
    op.create_index("ix_runs_sweep_id_status", "runs", ["sweep_id", "status"])
    op.create_index("ix_runs_experiment", "runs", ["experiment"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "params",
        sa.Column("param_id", sa.Integer(), nullable=False),
        _run_fk("params"),
        sa.Column("name", NAME, nullable=False),
        sa.Column("kind", SHORT, nullable=False),
        sa.Column("value_text", sa.Text(), nullable=False),
        sa.Column("value_num", REAL, nullable=True),
        sa.Column("version", NAME, nullable=True),
        sa.PrimaryKeyConstraint("param_id", name="pk_params"),
        sa.UniqueConstraint("run_id", "name", name="uq_params_run_id_name"),
    )
    op.create_index("ix_params_name_value_num", "params", ["name", "value_num"])
    op.create_index("ix_params_name_value_text", "params", ["name", "value_text"])
    op.create_table(
        "timings",
        sa.Column("timing_id", sa.Integer(), nullable=False),
        _run_fk("timings"),
        sa.Column("label", NAME, nullable=False),
        sa.Column("shape", NAME, nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("number_per_run", sa.Integer(), nullable=False),
        *_reals("median", "iqr", "mean", "min", "max", "flops"),
        sa.Column("threads", sa.Integer(), nullable=True),
        sa.Column("replicates_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("timing_id", name="pk_timings"),
    )
    op.create_index("ix_timings_run_id", "timings", ["run_id"])
    op.create_table(
        "activation_stats",
        sa.Column("activation_stat_id", sa.Integer(), nullable=False),
        _run_fk("activation_stats"),
        sa.Column("model", NAME, nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        *_reals("mean", "std", "min", "max", "frac_zero", "frac_nonfinite"),
        sa.PrimaryKeyConstraint("activation_stat_id", name="pk_activation_stats"),
    )
    op.create_index("ix_activation_stats_run_id_model_layer", "activation_stats", ["run_id", "model", "layer"])
    op.create_table(
        "metrics",
        sa.Column("metric_id", sa.Integer(), nullable=False),
        _run_fk("metrics"),
        sa.Column("name", NAME, nullable=False),
        sa.Column("step", sa.Integer(), nullable=True),
        *_reals("value"),
        sa.PrimaryKeyConstraint("metric_id", name="pk_metrics"),
    )
    op.create_index("ix_metrics_run_id_name_step", "metrics", ["run_id", "name", "step"])


def downgrade() -> None:
    for table in ("metrics", "activation_stats", "timings", "params", "runs", "sweeps"):
        op.drop_table(table)
