"""merge the parallel branches (experiments, datasets, registry, reports) and create the analyst views

The views in schema `analytics` read tables from every branch, so they can only exist after all of them.
The SQL is frozen here as it was when this revision was written: a migration never imports live code. A later change
to `flywheel/reports/views.sql` ships with a new revision that carries its own copy of the new definitions.

Revision ID: 0009
Revises: 0004, 0005, 0006, 0007
"""
from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = ("0004", "0005", "0006", "0007")
branch_labels = None
depends_on = None

VIEWS = ("experiment_assignments", "arm_daily_completion", "ab_report_latest", "model_history", "dataset_lineage")

VIEWS_SQL = r"""
-- Analyst views (schema analytics). Recreated by flywheel.reports.views.create_views (idempotent).
-- Definitions match flywheel.reports.ab: a project's arm is the arm of its first response inside the experiment
-- window; exported = the project has a project_exports row.
CREATE SCHEMA IF NOT EXISTS analytics;

DROP VIEW IF EXISTS analytics.ab_report_latest;
DROP VIEW IF EXISTS analytics.arm_daily_completion;
DROP VIEW IF EXISTS analytics.experiment_assignments;
DROP VIEW IF EXISTS analytics.model_history;
DROP VIEW IF EXISTS analytics.dataset_lineage;

-- One row per (experiment, project): the arm that served it, its user, and whether the hash assignment agrees.
CREATE VIEW analytics.experiment_assignments AS
WITH arms AS (
    SELECT a.experiment_id, a.arm, a.weight, a.backend, a.model_ref,
           sum(a.weight) OVER (PARTITION BY a.experiment_id ORDER BY a.arm) / sum(a.weight) OVER (PARTITION BY
               a.experiment_id) AS cum_weight
    FROM experiment_arms a
), first_resp AS (
    SELECT DISTINCT ON (e.experiment_id, r.project_id)
           e.experiment_id, e.salt, r.project_id, r.arm, r.occurred_at AS first_response_at
    FROM experiments e
    JOIN experiment_arms a ON a.experiment_id = e.experiment_id
    JOIN responses r ON r.arm = a.arm
     AND (e.started_at IS NULL OR r.occurred_at >= e.started_at)
     AND (e.ended_at IS NULL OR r.occurred_at < e.ended_at)
    ORDER BY e.experiment_id, r.project_id, r.occurred_at, r.event_id
), started AS (
    SELECT project_id, min(user_id) AS user_id, min(occurred_at) AS started_at FROM projects GROUP BY project_id
), hashed AS (
    -- Same as flywheel.assistant.routing.hash_unit: first 8 bytes of sha256(salt:user_id) / 2^64.
    SELECT f.*, s.user_id, s.started_at,
           CASE WHEN s.user_id IS NULL THEN NULL ELSE
               (('x' || substr(encode(sha256(convert_to(f.salt || ':' || s.user_id, 'UTF8')), 'hex'), 1, 16))
                   ::bit(64)::bigint::numeric + CASE WHEN ('x' || substr(encode(sha256(convert_to(
                   f.salt || ':' || s.user_id, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint < 0
                   THEN 18446744073709551616 ELSE 0 END) / 18446744073709551616
           END AS hash_unit
    FROM first_resp f
    LEFT JOIN started s USING (project_id)
)
SELECT h.experiment_id, h.project_id, h.user_id, h.arm,
       (SELECT a.arm FROM arms a WHERE a.experiment_id = h.experiment_id AND a.weight > 0
          AND h.hash_unit < a.cum_weight ORDER BY a.arm LIMIT 1) AS hash_arm,
       coalesce(h.started_at, h.first_response_at) AS project_started_at,
       h.first_response_at,
       EXISTS (SELECT 1 FROM project_exports x WHERE x.project_id = h.project_id) AS exported
FROM hashed h;

-- Live per-arm, per-day project_completion_rate (intervals: see ab_report_daily / analytics.ab_report_latest).
CREATE VIEW analytics.arm_daily_completion AS
SELECT experiment_id,
       (project_started_at AT TIME ZONE 'UTC')::date AS day,
       arm,
       count(*) AS started,
       count(*) FILTER (WHERE exported) AS exported,
       round(count(*) FILTER (WHERE exported)::numeric / count(*), 4) AS completion_rate
FROM analytics.experiment_assignments
GROUP BY 1, 2, 3;

-- The newest stored A/B report per experiment, one row per arm, with the ratio to the control arm and the SRM test.
CREATE VIEW analytics.ab_report_latest AS
WITH latest AS (
    SELECT DISTINCT ON (coalesce(experiment_id, '')) *
    FROM ab_reports ORDER BY coalesce(experiment_id, ''), generated_at DESC
)
SELECT l.experiment_id, l.report_id, l.generated_at, a.arm, a.weight, a.started, a.exported, a.rate, a.ci_low,
       a.ci_high,
       (SELECT (r ->> 'ratio')::float FROM jsonb_array_elements(l.summary -> 'ratios') r
         WHERE r ->> 'numerator' = a.arm) AS ratio_to_control,
       (SELECT (r ->> 'ci_low')::float FROM jsonb_array_elements(l.summary -> 'ratios') r
         WHERE r ->> 'numerator' = a.arm) AS ratio_ci_low,
       (SELECT (r ->> 'ci_high')::float FROM jsonb_array_elements(l.summary -> 'ratios') r
         WHERE r ->> 'numerator' = a.arm) AS ratio_ci_high,
       (l.summary -> 'srm' ->> 'p_value')::float AS srm_p_value,
       (l.summary -> 'srm' ->> 'flagged')::boolean AS srm_flagged,
       l.summary -> 'paths' ->> 'plot' AS plot_path
FROM latest l JOIN ab_report_arms a USING (report_id);

-- Every trained model with its latest offline evaluation (subset All, plus r_3 / r_5 overall) and promotion state.
CREATE VIEW analytics.model_history AS
WITH ev AS (
    SELECT DISTINCT ON (model_id, subset, tool) model_id, split_id, subset, tool, f1, quality, final, overall,
           invalid_rate, n, evaluated_at
    FROM evaluations ORDER BY model_id, subset, tool, evaluated_at DESC
), piv AS (
    SELECT model_id,
           max(split_id) FILTER (WHERE subset = 'All') AS eval_split_id,
           max(n) FILTER (WHERE subset = 'All') AS n_test,
           max(final) FILTER (WHERE subset = 'All' AND tool = 'adjust') AS adjust_final,
           max(final) FILTER (WHERE subset = 'All' AND tool = 'selective_adjust') AS selective_adjust_final,
           max(final) FILTER (WHERE subset = 'All' AND tool = 'filter') AS filter_final,
           max(overall) FILTER (WHERE subset = 'All') AS overall,
           max(invalid_rate) FILTER (WHERE subset = 'All') AS invalid_rate,
           max(overall) FILTER (WHERE subset = 'r_3') AS overall_r3,
           max(overall) FILTER (WHERE subset = 'r_5') AS overall_r5,
           max(evaluated_at) AS evaluated_at
    FROM ev GROUP BY model_id
), decision AS (
    SELECT DISTINCT ON (model_id) model_id, promoted, reason, decided_at
    FROM promotion_decisions ORDER BY model_id, decided_at DESC, id DESC
)
SELECT m.id AS model_id, m.status, m.backend, m.base, m.created_at, m.training_seconds, m.split_id,
       m.groundtruth_run_id, p.eval_split_id, p.n_test, p.adjust_final, p.selective_adjust_final, p.filter_final,
       p.overall, p.overall_r3, p.overall_r5, p.invalid_rate, p.evaluated_at,
       d.promoted AS last_decision_promoted, d.reason AS last_decision_reason, d.decided_at AS last_decision_at
FROM models m
LEFT JOIN piv p ON p.model_id = m.id
LEFT JOIN decision d ON d.model_id = m.id;

-- Ground-truth run -> split -> derived (augmented) split -> models, with the latest GX verdict of each.
CREATE VIEW analytics.dataset_lineage AS
WITH gx AS (
    SELECT DISTINCT ON (target_kind, target_id) target_kind, target_id, success, n_failed, created_at
    FROM validation_results ORDER BY target_kind, target_id, created_at DESC, id DESC
)
SELECT s.split_id, s.parent_split_id, s.groundtruth_run_id, g.watermark AS groundtruth_watermark,
       g.teacher_arm, g.status AS groundtruth_status, g.n_intents AS groundtruth_intents,
       g.n_dropped AS groundtruth_dropped, gg.success AS groundtruth_valid,
       s.seed, s.test_size, s.counts, s.params, s.created_at AS split_created_at, gs.success AS split_valid,
       (SELECT count(*) FROM models m WHERE m.split_id = s.split_id) AS n_models,
       (SELECT m.id FROM models m WHERE m.split_id = s.split_id AND m.status = 'production' LIMIT 1)
           AS production_model_id
FROM splits s
LEFT JOIN groundtruth_runs g ON g.run_id = s.groundtruth_run_id
LEFT JOIN gx gg ON gg.target_kind = 'groundtruth' AND gg.target_id = s.groundtruth_run_id
LEFT JOIN gx gs ON gs.target_kind = 'split' AND gs.target_id = s.split_id;
"""


def upgrade() -> None:
    op.get_bind().exec_driver_sql(VIEWS_SQL)


def downgrade() -> None:
    op.get_bind().exec_driver_sql("".join(f"DROP VIEW IF EXISTS analytics.{v};\n" for v in reversed(VIEWS)))
