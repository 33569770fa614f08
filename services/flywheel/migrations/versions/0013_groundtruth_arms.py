"""groundtruth_runs.arms: which arms' responses fed the run ('teacher' | 'all'); one run per (teacher arm, arms,
watermark)

Revision ID: 0013
Revises: 0012
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("groundtruth_runs", sa.Column("arms", sa.String(16), nullable=False, server_default="teacher"))
    op.drop_constraint("uq_groundtruth_runs_arm_watermark", "groundtruth_runs", type_="unique")
    op.create_unique_constraint("uq_groundtruth_runs_arm_watermark", "groundtruth_runs",
                                ["teacher_arm", "arms", "watermark"])


def downgrade() -> None:
    op.execute("DELETE FROM groundtruth_runs WHERE arms <> 'teacher'")
    op.drop_constraint("uq_groundtruth_runs_arm_watermark", "groundtruth_runs", type_="unique")
    op.create_unique_constraint("uq_groundtruth_runs_arm_watermark", "groundtruth_runs", ["teacher_arm", "watermark"])
    op.drop_column("groundtruth_runs", "arms")
