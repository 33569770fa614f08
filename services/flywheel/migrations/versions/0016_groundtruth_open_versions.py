"""one open version per intent and lineage, found by (lineage, intent_norm)

A night's run reads, closes and replaces the open versions of the intents its fold touched. The index on
(lineage, valid_to) found them only as "all open versions of the lineage"; the planner then read every version of the
lineage (a number that grows each night) to join them. A partial unique index on (lineage, intent_norm) over the open
versions finds each by its intent, and holds the rule that a lineage has one current version per intent. It also
answers "the open versions of a lineage" (a run's counts), so the old index goes.

Revision ID: 0016
Revises: 0015
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

OPEN = 9223372036854775807  # valid_to of the current version (bigint max)


def upgrade() -> None:
    op.create_index("ux_groundtruth_picks_open", "groundtruth_picks", ["lineage", "intent_norm"], unique=True,
                    postgresql_where=sa.text(f"valid_to = {OPEN}"))
    op.drop_index("ix_groundtruth_picks_lineage_valid_to", table_name="groundtruth_picks")


def downgrade() -> None:
    op.create_index("ix_groundtruth_picks_lineage_valid_to", "groundtruth_picks", ["lineage", "valid_to"])
    op.drop_index("ux_groundtruth_picks_open", table_name="groundtruth_picks")
