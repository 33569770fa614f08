"""responses say which backend served and why: the student arm's fallback to the teacher is queryable

* ``responses.served_by`` (``teacher`` | ``student``): the backend whose outputs the user got. In a student arm,
  ``teacher`` means the student could not answer that request and the teacher stood in.
* ``responses.fallback_reason``: why (``student_error: ZeroDivisionError``, ``student_load_error: ...``,
  ``student_contract: filter``); NULL when the arm's own backend served.

Both come from optional fields of ``assistant_responded`` v1, so events written before them stay valid; their rows
(and every row stored before this revision) have ``served_by`` NULL, which means the arm's own backend served. Nullable
columns without a default: adding them rewrites no row.

Revision ID: 0018
Revises: 0017
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("responses", sa.Column("served_by", sa.String(16), nullable=True))
    op.add_column("responses", sa.Column("fallback_reason", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("responses", "fallback_reason")
    op.drop_column("responses", "served_by")
