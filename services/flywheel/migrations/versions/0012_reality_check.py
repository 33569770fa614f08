"""Reality check: annotation batches, tasks, annotators, answers; view analytics.reality_check

The SQL lives here (an old revision must never import live package code).

Revision ID: 0012
Revises: 0011
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# Per batch: the paper's counts (tasks whose majority said yes), Fleiss' kappa per question over the complete tasks
# (P_i = (yes^2 + no^2 - n) / (n (n - 1)), kappa = (mean P_i - P_e) / (1 - P_e), P_e = p^2 + (1 - p)^2), and how the
# automatic mimicry scores go with the share of "mimics" votes (Pearson r).
VIEW = """
CREATE SCHEMA IF NOT EXISTS analytics;
CREATE OR REPLACE VIEW analytics.reality_check AS
WITH votes AS (
    SELECT t.batch_id, t.id AS task_id, t.delta_e, t.ssim, count(a.id) AS n,
           count(a.id) FILTER (WHERE a.relevant) AS relevant_yes,
           count(a.id) FILTER (WHERE a.mimics) AS mimics_yes
    FROM public.annotation_tasks t LEFT JOIN public.annotation_answers a ON a.task_id = t.id
    GROUP BY t.batch_id, t.id, t.delta_e, t.ssim
), done AS (
    SELECT v.*, b.per_task,
           (v.relevant_yes ^ 2 + (v.n - v.relevant_yes) ^ 2 - v.n)::double precision / (v.n * (v.n - 1)) AS p_rel,
           (v.mimics_yes ^ 2 + (v.n - v.mimics_yes) ^ 2 - v.n)::double precision / (v.n * (v.n - 1)) AS p_mim
    FROM votes v JOIN public.annotation_batches b USING (batch_id)
    WHERE v.n = b.per_task AND b.per_task > 1
), agg AS (
    SELECT batch_id, count(*) AS tasks_done,
           count(*) FILTER (WHERE 2 * relevant_yes > n) AS relevant,
           count(*) FILTER (WHERE 2 * mimics_yes > n) AS mimicry,
           avg(p_rel) AS pbar_rel, sum(relevant_yes)::double precision / sum(n) AS q_rel,
           avg(p_mim) AS pbar_mim, sum(mimics_yes)::double precision / sum(n) AS q_mim,
           corr(ssim, mimics_yes::double precision / n) AS r_ssim_mimicry,
           corr(delta_e, mimics_yes::double precision / n) AS r_delta_e_mimicry
    FROM done GROUP BY batch_id
)
SELECT b.model_id, b.batch_id, b.created_at, b.n_tasks, b.per_task,
       coalesce(g.tasks_done, 0) AS tasks_done,
       (SELECT count(*) FROM votes v WHERE v.batch_id = b.batch_id AND v.n > 0) AS tasks_started,
       g.relevant, g.mimicry,
       (g.pbar_rel - (g.q_rel ^ 2 + (1 - g.q_rel) ^ 2)) / nullif(1 - (g.q_rel ^ 2 + (1 - g.q_rel) ^ 2), 0)
           AS kappa_relevancy,
       (g.pbar_mim - (g.q_mim ^ 2 + (1 - g.q_mim) ^ 2)) / nullif(1 - (g.q_mim ^ 2 + (1 - g.q_mim) ^ 2), 0)
           AS kappa_mimicry,
       (SELECT avg(t.delta_e) FROM public.annotation_tasks t WHERE t.batch_id = b.batch_id) AS mean_delta_e,
       (SELECT avg(t.ssim) FROM public.annotation_tasks t WHERE t.batch_id = b.batch_id) AS mean_ssim,
       g.r_ssim_mimicry, g.r_delta_e_mimicry
FROM public.annotation_batches b LEFT JOIN agg g USING (batch_id)
ORDER BY b.created_at DESC, b.batch_id;
"""


def upgrade() -> None:
    now = sa.text("now()")
    op.create_table(
        "annotation_batches",
        sa.Column("batch_id", sa.String(100), nullable=False),
        sa.Column("model_id", sa.String(64), nullable=False),
        sa.Column("split_id", sa.String(64), nullable=False),
        sa.Column("n_tasks", sa.Integer(), nullable=False),
        sa.Column("per_task", sa.Integer(), server_default="3", nullable=False),
        sa.Column("seed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="CASCADE",
                                name="fk_annotation_batches_model_id_models"),
        sa.PrimaryKeyConstraint("batch_id", name="pk_annotation_batches"),
    )
    op.create_index("ix_annotation_batches_model_id", "annotation_batches", ["model_id"])
    op.create_table(
        "annotation_tasks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("intent", sa.Text(), nullable=False),
        sa.Column("photo", sa.String(64), nullable=False),
        sa.Column("teacher", postgresql.JSONB(), nullable=False),
        sa.Column("student", postgresql.JSONB(), nullable=False),
        sa.Column("delta_e", sa.Double(), nullable=False),
        sa.Column("ssim", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["annotation_batches.batch_id"], ondelete="CASCADE",
                                name="fk_annotation_tasks_batch_id_annotation_batches"),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_tasks"),
        sa.UniqueConstraint("batch_id", "position", name="uq_annotation_tasks_position"),
    )
    op.create_index("ix_annotation_tasks_batch_id", "annotation_tasks", ["batch_id"])
    op.create_table(
        "annotators",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotators"),
        sa.UniqueConstraint("name", name="uq_annotators_name"),
    )
    op.create_table(
        "annotation_answers",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=False),
        sa.Column("annotator_id", sa.BigInteger(), nullable=False),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.Column("mimics", sa.Boolean(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), server_default=now, nullable=False),
        sa.ForeignKeyConstraint(["task_id"], ["annotation_tasks.id"], ondelete="CASCADE",
                                name="fk_annotation_answers_task_id_annotation_tasks"),
        sa.ForeignKeyConstraint(["annotator_id"], ["annotators.id"], ondelete="CASCADE",
                                name="fk_annotation_answers_annotator_id_annotators"),
        sa.PrimaryKeyConstraint("id", name="pk_annotation_answers"),
        sa.UniqueConstraint("task_id", "annotator_id", name="uq_annotation_answers_task_annotator"),
    )
    op.create_index("ix_annotation_answers_task_id", "annotation_answers", ["task_id"])
    op.create_index("ix_annotation_answers_annotator_id", "annotation_answers", ["annotator_id"])
    op.execute(VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS analytics.reality_check")
    op.drop_table("annotation_answers")
    op.drop_table("annotators")
    op.drop_table("annotation_tasks")
    op.drop_table("annotation_batches")
