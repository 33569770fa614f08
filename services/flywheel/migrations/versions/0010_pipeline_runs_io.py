"""pipeline_runs records every stage: inputs (was params), outputs, the Airflow run id; view analytics.pipeline_runs

The SQL lives here (an old revision must never import live package code).

Revision ID: 0010
Revises: 0009
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

VIEW = """
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE OR REPLACE VIEW analytics.pipeline_runs AS
SELECT stage, run_id, status, airflow_run_id, started_at, finished_at,
       extract(epoch FROM finished_at - started_at)::double precision AS duration_s,
       inputs, outputs, message
FROM public.pipeline_runs
ORDER BY started_at DESC, run_id;
"""


def upgrade() -> None:
    op.alter_column("pipeline_runs", "params", new_column_name="inputs")
    op.add_column("pipeline_runs", sa.Column("outputs", postgresql.JSONB(), nullable=False,
                                             server_default=sa.text("'{}'::jsonb")))
    op.add_column("pipeline_runs", sa.Column("airflow_run_id", sa.String(250), nullable=True))
    op.create_index("ix_pipeline_runs_airflow_run_id", "pipeline_runs", ["airflow_run_id"])
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS analytics.pipeline_runs")
    op.drop_index("ix_pipeline_runs_airflow_run_id", table_name="pipeline_runs")
    op.drop_column("pipeline_runs", "airflow_run_id")
    op.drop_column("pipeline_runs", "outputs")
    op.alter_column("pipeline_runs", "inputs", new_column_name="params")
