"""registry: models, evaluations, promotion decisions

Revision ID: 0006
Revises: 0002
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0002"
branch_labels = None
depends_on = None

_NOW = sa.text("now()")
_EMPTY = sa.text("'{}'::jsonb")


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("backend", sa.String(16), nullable=False),
        sa.Column("base", sa.Text(), nullable=False),
        sa.Column("split_id", sa.String(64), nullable=False),
        sa.Column("groundtruth_run_id", sa.String(64), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("config", postgresql.JSONB(), nullable=False, server_default=_EMPTY),
        sa.Column("metrics", postgresql.JSONB(), nullable=False, server_default=_EMPTY),
        sa.Column("status", sa.String(16), nullable=False, server_default="candidate"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("training_seconds", sa.Double(), nullable=True),
        sa.CheckConstraint("status IN ('candidate', 'production', 'retired')", name="ck_models_status"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
    )
    op.create_index(op.f("ix_models_split_id"), "models", ["split_id"])
    op.create_index(op.f("ix_models_status"), "models", ["status"])
    op.create_index("uq_models_one_production", "models", ["status"], unique=True,
                    postgresql_where=sa.text("status = 'production'"))
    op.create_table(
        "evaluations",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("split_id", sa.String(64), nullable=False),
        sa.Column("subset", sa.String(16), nullable=False),
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("precision", sa.Double(), nullable=False),
        sa.Column("recall", sa.Double(), nullable=False),
        sa.Column("f1", sa.Double(), nullable=False),
        sa.Column("quality", sa.Double(), nullable=False),
        sa.Column("final", sa.Double(), nullable=False),
        sa.Column("overall", sa.Double(), nullable=False),
        sa.Column("invalid_rate", sa.Double(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_evaluations_model_id_models"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("model_id", "split_id", "subset", "tool", name="uq_evaluations_key"),
    )
    op.create_index(op.f("ix_evaluations_model_id"), "evaluations", ["model_id"])
    op.create_table(
        "promotion_decisions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("promoted", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("split_id", sa.String(64), nullable=True),
        sa.Column("candidate_overall", sa.Double(), nullable=True),
        sa.Column("production_model_id", sa.String(64), nullable=True),
        sa.Column("production_overall", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_promotion_decisions_model_id_models"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promotion_decisions")),
    )
    op.create_index(op.f("ix_promotion_decisions_model_id"), "promotion_decisions", ["model_id"])


def downgrade() -> None:
    op.drop_table("promotion_decisions")
    op.drop_table("evaluations")
    op.drop_index("uq_models_one_production", table_name="models")
    op.drop_table("models")
