"""datasets: ground-truth runs and rows, splits, split members, validation results

Revision ID: 0005
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")
_EMPTY = sa.text("'{}'::jsonb")


def upgrade() -> None:
    op.create_table(
        "groundtruth_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("teacher_arm", sa.String(64), nullable=False),
        sa.Column("params", postgresql.JSONB(), nullable=False, server_default=_EMPTY),
        sa.Column("status", sa.String(16), nullable=False, server_default="running"),
        sa.Column("n_responses", sa.BigInteger()),
        sa.Column("n_intents_seen", sa.Integer()),
        sa.Column("n_intents", sa.Integer()),
        sa.Column("n_dropped", sa.Integer()),
        sa.Column("duration_s", sa.Double()),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("run_id", name="pk_groundtruth_runs"),
        sa.UniqueConstraint("teacher_arm", "watermark", name="uq_groundtruth_runs_arm_watermark"),
    )
    op.create_table(
        "groundtruth_rows",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("intent_norm", sa.Text(), nullable=False),
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("output", postgresql.JSONB(), nullable=True),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.Column("shown", sa.Integer(), nullable=False),
        sa.Column("exports", sa.Integer(), nullable=False),
        sa.Column("export_rate", sa.Double(), nullable=False),
        sa.Column("support", sa.Integer(), nullable=False),
        sa.Column("n_candidates", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["groundtruth_runs.run_id"], ondelete="CASCADE",
                                name="fk_groundtruth_rows_run_id_groundtruth_runs"),
        sa.PrimaryKeyConstraint("run_id", "intent_norm", "tool", name="pk_groundtruth_rows"),
    )
    op.create_table(
        "splits",
        sa.Column("split_id", sa.String(64), nullable=False),
        sa.Column("parent_split_id", sa.String(64)),
        sa.Column("groundtruth_run_id", sa.String(64)),
        sa.Column("seed", sa.Integer()),
        sa.Column("test_size", sa.Integer()),
        sa.Column("params", postgresql.JSONB(), nullable=False, server_default=_EMPTY),
        sa.Column("counts", postgresql.JSONB(), nullable=False, server_default=_EMPTY),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.ForeignKeyConstraint(["parent_split_id"], ["splits.split_id"], name="fk_splits_parent_split_id_splits"),
        sa.ForeignKeyConstraint(["groundtruth_run_id"], ["groundtruth_runs.run_id"],
                                name="fk_splits_groundtruth_run_id_groundtruth_runs"),
        sa.PrimaryKeyConstraint("split_id", name="pk_splits"),
    )
    op.create_index("ix_splits_parent_split_id", "splits", ["parent_split_id"])
    op.create_index("ix_splits_groundtruth_run_id", "splits", ["groundtruth_run_id"])
    op.create_table(
        "split_members",
        sa.Column("split_id", sa.String(64), nullable=False),
        sa.Column("intent", sa.Text(), nullable=False),
        sa.Column("part", sa.String(8), nullable=False),
        sa.Column("adjust", postgresql.JSONB(), nullable=True),
        sa.Column("selective_adjust", postgresql.JSONB(), nullable=True),
        sa.Column("filter", postgresql.JSONB(), nullable=True),
        sa.Column("support", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["split_id"], ["splits.split_id"], ondelete="CASCADE",
                                name="fk_split_members_split_id_splits"),
        sa.PrimaryKeyConstraint("split_id", "intent", "part", name="pk_split_members"),
    )
    op.create_index("ix_split_members_split_part", "split_members", ["split_id", "part"])
    op.create_table(
        "validation_results",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("target_kind", sa.String(16), nullable=False),
        sa.Column("target_id", sa.String(64), nullable=False),
        sa.Column("suite", sa.String(128), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("n_expectations", sa.Integer(), nullable=False),
        sa.Column("n_failed", sa.Integer(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("results", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("gx_version", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_NOW, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_validation_results"),
    )
    op.create_index("ix_validation_results_target", "validation_results", ["target_kind", "target_id"])


def downgrade() -> None:
    op.drop_index("ix_validation_results_target", table_name="validation_results")
    op.drop_table("validation_results")
    op.drop_index("ix_split_members_split_part", table_name="split_members")
    op.drop_table("split_members")
    op.drop_index("ix_splits_groundtruth_run_id", table_name="splits")
    op.drop_index("ix_splits_parent_split_id", table_name="splits")
    op.drop_table("splits")
    op.drop_table("groundtruth_rows")
    op.drop_table("groundtruth_runs")
