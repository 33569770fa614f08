"""intents say which private items the assistant's redactor replaced; analysts count them per kind and day

* ``intents.redacted_kinds`` (JSONB): placeholders per kind the redactor made in that intent (``{"email": 1,
  "phone": 2}``; ``{}`` = it passed the redactor and nothing was found), from the optional field of
  ``intent_submitted`` v1. NULL on every row stored before this revision and on events written before the redactor
  existed (their text was stored as typed). A nullable column without a default: adding it rewrites no row.
* View ``analytics.redactions_daily``: per UTC day and kind, the intents holding that kind and the placeholders made,
  beside the intents that passed the redactor that day. Documented with COMMENT ON; frozen here as written
  (views.sql carries the live copy). The analyst role reads it through the default privileges 0019 granted on schema
  analytics.

Revision ID: 0022
Revises: 0021
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

VIEW_SQL = r"""
-- Private text (issue 31, migration 0022): what the assistant's redactor replaced, per UTC day and kind.
CREATE OR REPLACE VIEW analytics.redactions_daily AS
WITH checked AS (
    SELECT (i.occurred_at AT TIME ZONE 'UTC')::date AS day, count(*) AS day_intents
    FROM public.intents i
    WHERE i.redacted_kinds IS NOT NULL
    GROUP BY 1
), found AS (
    SELECT (i.occurred_at AT TIME ZONE 'UTC')::date AS day, k.key AS kind, count(*) AS intents,
           sum(k.value::text::integer) AS placeholders
    FROM public.intents i
    CROSS JOIN LATERAL jsonb_each(i.redacted_kinds) AS k
    WHERE i.redacted_kinds IS NOT NULL AND i.redacted_kinds <> '{}'::jsonb
    GROUP BY 1, 2
)
SELECT f.day, f.kind, f.intents, f.placeholders, c.day_intents
FROM found f JOIN checked c USING (day)
ORDER BY f.day DESC, f.kind;

COMMENT ON VIEW analytics.redactions_daily IS 'Private items the assistant''s redactor replaced by typed '
    'placeholders before the teacher, the student or the event log saw the intent (docs/domain.md, Private text): '
    'one row per UTC day and kind found that day. Intents stored before the redactor are not counted.';
COMMENT ON COLUMN analytics.redactions_daily.day IS 'UTC date the intents were submitted.';
COMMENT ON COLUMN analytics.redactions_daily.kind IS 'What was replaced: email, url, iban, card, ip, phone or '
    'number (a long digit run of no other kind).';
COMMENT ON COLUMN analytics.redactions_daily.intents IS 'Intents that day with at least one item of this kind.';
COMMENT ON COLUMN analytics.redactions_daily.placeholders IS 'Items of this kind replaced that day (an intent may '
    'hold several).';
COMMENT ON COLUMN analytics.redactions_daily.day_intents IS 'All intents that day that passed the redactor, with or '
    'without a find (the denominator of a share).';
"""


def upgrade() -> None:
    op.add_column("intents", sa.Column("redacted_kinds", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.get_bind().exec_driver_sql(VIEW_SQL)


def downgrade() -> None:
    op.get_bind().exec_driver_sql("DROP VIEW IF EXISTS analytics.redactions_daily")
    op.drop_column("intents", "redacted_kinds")
