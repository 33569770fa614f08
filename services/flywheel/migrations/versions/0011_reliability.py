"""reliability: overflow-proof intent index, event content hashes, dead-letter marker, API keys and their usage

* ``ix_intents_intent_norm`` becomes a hash index: a btree refuses keys over ~2.7 kB, so one long intent stopped ingest.
* ``content_hash`` on every event table: a different body under a known event_id is a failure, not a silent drop.
* ``failed_events.dead_letter_pending``: the broker never acknowledged its dead-letter copy (re-sent later).
* ``api_keys`` (sha256 of the key, never the key) and ``api_key_usage`` (teacher calls per key per day).

The SQL lives here (an old revision must never import live package code).

Revision ID: 0011
Revises: 0010
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_EVENT_TABLES = ("projects", "intents", "responses", "tool_exports", "project_exports")
_NOW = sa.text("now()")


def upgrade() -> None:
    op.drop_index("ix_intents_intent_norm", table_name="intents")
    op.create_index("ix_intents_intent_norm", "intents", ["intent_norm"], postgresql_using="hash")
    for t in _EVENT_TABLES:
        op.add_column(t, sa.Column("content_hash", sa.String(64), nullable=True))
    op.add_column("failed_events", sa.Column("dead_letter_pending", sa.Boolean(), nullable=False,
                                             server_default=sa.false()))
    op.create_index("ix_failed_events_dead_letter_pending", "failed_events", ["dead_letter_pending"],
                    postgresql_where=sa.text("dead_letter_pending"))
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False, server_default=""),
        sa.Column("rate_per_minute", sa.Integer(), nullable=False, server_default="120"),
        sa.Column("teacher_calls_per_day", sa.Integer(), nullable=False, server_default="2000"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "api_key_usage",
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("teacher_calls", sa.Integer(), nullable=False, server_default="0"),
        sa.ForeignKeyConstraint(["key_id"], ["api_keys.id"], name=op.f("fk_api_key_usage_key_id_api_keys"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_id", "day", name=op.f("pk_api_key_usage")),
    )


def downgrade() -> None:
    op.drop_table("api_key_usage")
    op.drop_table("api_keys")
    op.drop_index("ix_failed_events_dead_letter_pending", table_name="failed_events")
    op.drop_column("failed_events", "dead_letter_pending")
    for t in _EVENT_TABLES:
        op.drop_column(t, "content_hash")
    op.drop_index("ix_intents_intent_norm", table_name="intents")
    op.create_index("ix_intents_intent_norm", "intents", ["intent_norm"])
