"""merge the parallel branches (experiments, datasets, registry, reports) and create the analyst views

The views in schema `analytics` read tables from every branch, so they can only exist after all of them.
A later change to `flywheel/reports/views.sql` ships with a new revision that calls create_views() again.

Revision ID: 0009
Revises: 0004, 0005, 0006, 0007
"""
from __future__ import annotations

from alembic import op

from flywheel.reports.views import create_views, drop_views

revision = "0009"
down_revision = ("0004", "0005", "0006", "0007")
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_views(op.get_bind())


def downgrade() -> None:
    drop_views(op.get_bind())
