"""A/B report tables: ab_reports, ab_report_arms, ab_report_daily

Revision ID: 0007
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None


def _stat_columns() -> list[sa.Column]:
    return [
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("exported", sa.Integer(), nullable=False),
        sa.Column("rate", sa.Double(), nullable=True),
        sa.Column("ci_low", sa.Double(), nullable=True),
        sa.Column("ci_high", sa.Double(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "ab_reports",
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("experiment_id", sa.String(64), nullable=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("summary", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_ab_reports")),
    )
    op.create_index(op.f("ix_ab_reports_experiment_id"), "ab_reports", ["experiment_id"], unique=False)
    op.create_table(
        "ab_report_arms",
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("weight", sa.Double(), nullable=True),
        *_stat_columns(),
        sa.ForeignKeyConstraint(["report_id"], ["ab_reports.report_id"], ondelete="CASCADE",
                                name=op.f("fk_ab_report_arms_report_id_ab_reports")),
        sa.PrimaryKeyConstraint("report_id", "arm", name=op.f("pk_ab_report_arms")),
    )
    op.create_table(
        "ab_report_daily",
        sa.Column("report_id", sa.String(64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        *_stat_columns(),
        sa.ForeignKeyConstraint(["report_id"], ["ab_reports.report_id"], ondelete="CASCADE",
                                name=op.f("fk_ab_report_daily_report_id_ab_reports")),
        sa.PrimaryKeyConstraint("report_id", "day", "arm", name=op.f("pk_ab_report_daily")),
    )


def downgrade() -> None:
    op.drop_table("ab_report_daily")
    op.drop_table("ab_report_arms")
    op.drop_index(op.f("ix_ab_reports_experiment_id"), table_name="ab_reports")
    op.drop_table("ab_reports")
