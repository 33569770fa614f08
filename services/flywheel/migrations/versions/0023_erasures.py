"""erasures: the record of each user erased by `flywheel erase` (issue 31, docs/domain.md#erasure)

* ``erasures``: one row per erasure, with no personal data: the user id only as sha256(salt || id) beside its
  random salt, the rows deleted per table, and what was derived from the user's evidence (ground-truth runs made
  stale, splits that held their intents and those now unusable, models trained on them, reality-check batches that
  lost a task), so an operator can decide to retrain.

Revision ID: 0023
Revises: 0022
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

_LISTS = ("groundtruth_runs", "splits", "unusable_splits", "models", "annotation_batches")


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("user_sha256", sa.String(length=64), nullable=False),
        sa.Column("salt", sa.String(length=32), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("counts", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"),
                  nullable=False),
        *(sa.Column(c, postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"),
                    nullable=False) for c in _LISTS),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
    )
    op.create_index("ix_erasures_user_sha256", "erasures", ["user_sha256"])


def downgrade() -> None:
    op.drop_index("ix_erasures_user_sha256", table_name="erasures")
    op.drop_table("erasures")
