"""incremental ground truth: per-candidate aggregates up to a watermark, the responses folded into them, the folds

* ``groundtruth_candidates``: per (intent_norm, tool, output, arm) how often it was shown, exported, last shown.
  ``output`` is JSON ``null`` for "tool not used" (a key column cannot be SQL NULL); ``key`` is an md5 of the
  four, because a btree refuses keys over ~2.7 kB and an intent may be 4 kB.
* ``groundtruth_folded``: every response event already counted, with the export flags it was counted with (a late
  ``tool_exported`` then adds exactly the missing export).
* ``groundtruth_folds``: one row per fold, the newest watermark is where the next fold starts.
* BRIN indexes on ``ingested_at`` of the three event tables: a fold reads only what arrived since the last one, and
  a BRIN costs ingest almost nothing (rows arrive in ``ingested_at`` order).

The SQL lives here (an old revision must never import live package code).

Revision ID: 0014
Revises: 0013
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_EVENT_TABLES = ("intents", "responses", "tool_exports")


def upgrade() -> None:
    op.create_table(
        "groundtruth_candidates",
        sa.Column("key", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("intent_norm", sa.Text(), nullable=False),
        sa.Column("tool", sa.String(32), nullable=False),
        sa.Column("arm", sa.String(64), nullable=False),
        sa.Column("output", postgresql.JSONB(), nullable=False),
        sa.Column("shown", sa.BigInteger(), nullable=False),
        sa.Column("exports", sa.BigInteger(), nullable=False),
        sa.Column("last_shown", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_groundtruth_candidates")),
    )
    op.create_table(
        "groundtruth_folded",
        sa.Column("event_id", postgresql.UUID(as_uuid=False), nullable=False),
        sa.Column("ex_adjust", sa.Boolean(), nullable=False),
        sa.Column("ex_selective_adjust", sa.Boolean(), nullable=False),
        sa.Column("ex_filter", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_groundtruth_folded")),
    )
    op.create_table(
        "groundtruth_folds",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("n_requests", sa.BigInteger(), nullable=False),
        sa.Column("n_responses", sa.BigInteger(), nullable=False),
        sa.Column("n_candidates", sa.BigInteger(), nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_groundtruth_folds")),
    )
    for t in _EVENT_TABLES:
        op.create_index(f"ix_{t}_ingested_at", t, ["ingested_at"], postgresql_using="brin")


def downgrade() -> None:
    for t in _EVENT_TABLES:
        op.drop_index(f"ix_{t}_ingested_at", table_name=t)
    op.drop_table("groundtruth_folds")
    op.drop_table("groundtruth_folded")
    op.drop_table("groundtruth_candidates")
