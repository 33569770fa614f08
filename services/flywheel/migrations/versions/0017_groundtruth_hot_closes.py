"""a night closes its replaced versions in place: no index covers valid_to, and a lineage keeps its counts

A night's run closes the current version of every intent its fold touched (at 10M events + 100k new, 18k of them)
by setting ``valid_to``. The partial unique index on the open versions named ``valid_to`` in its predicate, so each
close wrote a whole new row elsewhere and a new entry in the primary key, and each new version paid that index
too. Without it, a close rewrites the row on its own page (a HOT update; the table now leaves a quarter of each page
free for them) and touches no index.

* A night finds an intent's current version as its latest one in the primary key (lineage, intent_norm,
  valid_from), read backwards.
* A run's counts (intents seen and kept, responses, tools used) used that index to read the lineage's open versions.
  ``groundtruth_lineages`` now keeps them for its open versions, and each run adds what its versions changed; they
  are filled in here from the open versions.
* One open version per intent is now the writers' rule (one run per lineage at a time, under the fold's lock), as
  tests/test_groundtruth_versions.py checks; the ground-truth validation also fails a run with a repeated
  (intent, tool).

Only new pages get the free space: rows written before this revision keep theirs until the table is rewritten.

A night also looks up each candidate it changed by its key (59k at 10M + 100k events). A hash index on the key finds
one with half the page reads of the primary key's B-tree; a fold's counter updates leave both alone (HOT), so only a
new candidate pays for it.

Revision ID: 0017
Revises: 0016
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

OPEN = 9223372036854775807  # valid_to of the current version (bigint max)
_TOOLS = ("adjust", "selective_adjust", "filter")
_COUNTS = ("n_intents_seen", "n_intents", "n_responses", *(f"used_{t}" for t in _TOOLS))


def upgrade() -> None:
    for name in _COUNTS:
        op.add_column("groundtruth_lineages", sa.Column(name, sa.BigInteger(), nullable=False, server_default="0"))
    used = ", ".join(f"{name} = c.{name}" for name in _COUNTS)
    op.execute(f"""
        UPDATE groundtruth_lineages l SET {used}
        FROM (SELECT lineage, count(*) AS n_intents_seen, count(*) FILTER (WHERE kept) AS n_intents,
                     coalesce(sum(support), 0) AS n_responses,
                     {", ".join(f"count(*) FILTER (WHERE kept AND {t} IS NOT NULL) AS used_{t}" for t in _TOOLS)}
              FROM groundtruth_picks WHERE valid_to = {OPEN} GROUP BY lineage) c
        WHERE c.lineage = l.lineage""")
    op.drop_index("ux_groundtruth_picks_open", table_name="groundtruth_picks")
    op.execute("ALTER TABLE groundtruth_picks SET (fillfactor = 75)")
    op.create_index("ix_groundtruth_candidates_key_hash", "groundtruth_candidates", ["key"], postgresql_using="hash")


def downgrade() -> None:
    op.drop_index("ix_groundtruth_candidates_key_hash", table_name="groundtruth_candidates")
    op.execute("ALTER TABLE groundtruth_picks RESET (fillfactor)")
    op.create_index("ux_groundtruth_picks_open", "groundtruth_picks", ["lineage", "intent_norm"], unique=True,
                    postgresql_where=sa.text(f"valid_to = {OPEN}"))
    for name in reversed(_COUNTS):
        op.drop_column("groundtruth_lineages", name)
