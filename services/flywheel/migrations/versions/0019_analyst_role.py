"""the analyst role, and analytics views that count as the A/B report counts, each view and column documented

* Role ``flywheel_analytics`` (NOLOGIN): CONNECT on this database, USAGE on schema ``analytics`` and SELECT on its
  views, nothing else (no base table, no write, no CREATE anywhere; PUBLIC loses TEMPORARY on this database, which
  the migrating user keeps). Roles belong to the server, not the database,
  so it is created once per server (when the migrating user may create roles; otherwise a warning says who must);
  this database's grants are made every time. ``flywheel db upgrade`` then creates the login that analysts use
  (``FLYWHEEL_ANALYST_USER``, member of this role, its password generated like the superuser's), which is not a
  schema object and never carries a secret into a migration.
* ``analytics.experiment_assignments`` (and so ``arm_daily_completion``) apply D16 as ``flywheel.reports.ab`` does:
  a project counts only when its first response ever is inside the window and it was not started before it
  (0009 counted its first in-window response, so a project straddling the start was counted).
* Every view and column gets a COMMENT (docs/analytics.md is generated from them); ``analytics.pipeline_runs``
  (0010) and ``analytics.reality_check`` (0012) join the others in ``flywheel/reports/views.sql``, unchanged.

The new definition and the comments are frozen here as they were when this revision was written (a migration never
imports live code); the other views keep the definitions 0009, 0010 and 0012 gave them, which views.sql repeats. The
downgrade restores those three revisions' views from their own frozen copies (comments gone).

Revision ID: 0019
Revises: 0018
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

VIEWS = ("experiment_assignments", "arm_daily_completion", "ab_report_latest", "model_history", "dataset_lineage",
         "pipeline_runs", "reality_check")

ROLE_SQL = r"""
DO $$
BEGIN
    -- Temporary tables are the one thing every role may create by default (PUBLIC has TEMPORARY): the platform's
    -- own user keeps it, nobody else gets it here.
    EXECUTE 'GRANT TEMPORARY ON DATABASE ' || quote_ident(current_database()) || ' TO ' || quote_ident(current_user);
    EXECUTE 'REVOKE TEMPORARY ON DATABASE ' || quote_ident(current_database()) || ' FROM PUBLIC';
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flywheel_analytics') THEN
        IF NOT (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user) THEN
            -- (no percent sign in here: the driver would read it as a parameter)
            RAISE WARNING USING MESSAGE = 'role flywheel_analytics not created: role ' || current_user
                || ' may not create roles. A DBA runs CREATE ROLE flywheel_analytics NOLOGIN; then flywheel db'
                || ' upgrade grants it the analytics views.';
            RETURN;
        END IF;
        BEGIN
            CREATE ROLE flywheel_analytics NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;  -- another database on this server created it at the same moment
        END;
    END IF;
    EXECUTE 'GRANT CONNECT ON DATABASE ' || quote_ident(current_database()) || ' TO flywheel_analytics';
    GRANT USAGE ON SCHEMA analytics TO flywheel_analytics;
    GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO flywheel_analytics;
    ALTER DEFAULT PRIVILEGES IN SCHEMA analytics GRANT SELECT ON TABLES TO flywheel_analytics;
END
$$;
"""

REVOKE_SQL = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flywheel_analytics') THEN
        ALTER DEFAULT PRIVILEGES IN SCHEMA analytics REVOKE SELECT ON TABLES FROM flywheel_analytics;
        REVOKE SELECT ON ALL TABLES IN SCHEMA analytics FROM flywheel_analytics;
        REVOKE USAGE ON SCHEMA analytics FROM flywheel_analytics;
        EXECUTE 'REVOKE CONNECT ON DATABASE ' || quote_ident(current_database()) || ' FROM flywheel_analytics';
        BEGIN
            DROP ROLE flywheel_analytics;
        EXCEPTION WHEN dependent_objects_still_exist OR object_in_use THEN
            NULL;  -- other databases on this server still grant it something: it stays for them
        END;
    END IF;
END
$$;
COMMENT ON SCHEMA analytics IS NULL;
DO $$
BEGIN
    EXECUTE 'GRANT TEMPORARY ON DATABASE ' || quote_ident(current_database()) || ' TO PUBLIC';
END
$$;
"""

VIEWS_SQL = r"""
-- experiment_assignments counts by D16 (same columns: arm_daily_completion, which reads it, stays).
CREATE OR REPLACE VIEW analytics.experiment_assignments AS
WITH arms AS (
    SELECT a.experiment_id, a.arm, a.weight,
           sum(a.weight) OVER (PARTITION BY a.experiment_id ORDER BY a.arm) / sum(a.weight) OVER (PARTITION BY
               a.experiment_id) AS cum_weight
    FROM public.experiment_arms a
), first_any AS (
    -- D16: a project belongs to the arm of its FIRST response, ever: one answered before the experiment began (a
    -- collection-period project whose later requests fall inside the window) was not assigned by it.
    SELECT DISTINCT ON (r.project_id) r.project_id, r.arm, r.occurred_at AS first_response_at
    FROM public.responses r
    ORDER BY r.project_id, r.occurred_at, r.event_id
), started AS (
    SELECT project_id, min(user_id) AS user_id, min(occurred_at) AS started_at FROM public.projects GROUP BY project_id
), assigned AS (
    SELECT e.experiment_id, e.salt, f.project_id, f.arm, f.first_response_at, s.user_id, s.started_at
    FROM public.experiments e
    JOIN public.experiment_arms a ON a.experiment_id = e.experiment_id
    JOIN first_any f ON f.arm = a.arm
     AND (e.started_at IS NULL OR f.first_response_at >= e.started_at)
     AND (e.ended_at IS NULL OR f.first_response_at < e.ended_at)
    LEFT JOIN started s USING (project_id)
    -- D16: a project started before the experiment (answered just after it began) was not assigned by it either.
    WHERE e.started_at IS NULL OR coalesce(s.started_at, f.first_response_at) >= e.started_at
), hashed AS (
    -- Same as flywheel.assistant.routing.hash_unit: first 8 bytes of sha256(salt:user_id) / 2^64.
    SELECT f.*,
           CASE WHEN f.user_id IS NULL THEN NULL ELSE
               (('x' || substr(encode(sha256(convert_to(f.salt || ':' || f.user_id, 'UTF8')), 'hex'), 1, 16))
                   ::bit(64)::bigint::numeric + CASE WHEN ('x' || substr(encode(sha256(convert_to(
                   f.salt || ':' || f.user_id, 'UTF8')), 'hex'), 1, 16))::bit(64)::bigint < 0
                   THEN 18446744073709551616 ELSE 0 END) / 18446744073709551616
           END AS hash_unit
    FROM assigned f
)
SELECT h.experiment_id, h.project_id, h.user_id, h.arm,
       (SELECT a.arm FROM arms a WHERE a.experiment_id = h.experiment_id AND a.weight > 0
          AND h.hash_unit < a.cum_weight ORDER BY a.arm LIMIT 1) AS hash_arm,
       coalesce(h.started_at, h.first_response_at) AS project_started_at,
       h.first_response_at,
       EXISTS (SELECT 1 FROM public.project_exports x WHERE x.project_id = h.project_id) AS exported
FROM hashed h;

COMMENT ON SCHEMA analytics IS 'Read-only views for analysts: the login that flywheel sql opens (a member of '
    'role flywheel_analytics) reads these and nothing else.';
COMMENT ON VIEW analytics.experiment_assignments IS 'One row per experiment and project it counts (D16): the '
    'project''s first assistant response ever is of an arm of the experiment and inside its window, and the '
    'project was not started before the window. The projects the A/B report counts.';
COMMENT ON COLUMN analytics.experiment_assignments.experiment_id IS 'The experiment (experiments.experiment_id).';
COMMENT ON COLUMN analytics.experiment_assignments.project_id IS 'The project.';
COMMENT ON COLUMN analytics.experiment_assignments.user_id IS 'Its user, from project_started (NULL when that '
    'event is missing).';
COMMENT ON COLUMN analytics.experiment_assignments.arm IS 'The arm that served it: the arm of its first response.';
COMMENT ON COLUMN analytics.experiment_assignments.hash_arm IS 'The arm the router''s hash gives its user (sha256 '
    'of salt:user_id, cut by the arms'' weights in name order); differs from arm only when routing went wrong. '
    'NULL without a user.';
COMMENT ON COLUMN analytics.experiment_assignments.project_started_at IS 'When the project started '
    '(project_started, else its first response); its day in the daily figures is this time''s UTC date.';
COMMENT ON COLUMN analytics.experiment_assignments.first_response_at IS 'Its first assistant response.';
COMMENT ON COLUMN analytics.experiment_assignments.exported IS 'True when the project was exported (a '
    'project_exported event at any time, after the window included).';
COMMENT ON VIEW analytics.arm_daily_completion IS 'Live project_completion_rate per experiment, UTC day and arm, '
    'counted as the A/B report counts (D16); the same numbers as a report made now. Intervals and ratios: '
    'analytics.ab_report_latest.';
COMMENT ON COLUMN analytics.arm_daily_completion.experiment_id IS 'The experiment.';
COMMENT ON COLUMN analytics.arm_daily_completion.day IS 'UTC date the projects started.';
COMMENT ON COLUMN analytics.arm_daily_completion.arm IS 'The arm that served them.';
COMMENT ON COLUMN analytics.arm_daily_completion.started IS 'Projects started (the denominator).';
COMMENT ON COLUMN analytics.arm_daily_completion.exported IS 'Of those, projects exported (at any time).';
COMMENT ON COLUMN analytics.arm_daily_completion.completion_rate IS 'exported / started, 4 decimals.';
COMMENT ON VIEW analytics.ab_report_latest IS 'The newest stored A/B report of each experiment (flywheel report '
    'ab, DAG ab_report), one row per arm: the counts, the 95 percent Wilson interval, the ratio to the control arm '
    'with its delta-method interval, and the sample-ratio-mismatch test.';
COMMENT ON COLUMN analytics.ab_report_latest.experiment_id IS 'The experiment (NULL: a report over all traffic).';
COMMENT ON COLUMN analytics.ab_report_latest.report_id IS 'The report (ab_reports.report_id; its files are named '
    'after it).';
COMMENT ON COLUMN analytics.ab_report_latest.generated_at IS 'When the report was made (wall clock).';
COMMENT ON COLUMN analytics.ab_report_latest.arm IS 'The arm.';
COMMENT ON COLUMN analytics.ab_report_latest.weight IS 'Its configured traffic weight (NULL without an '
    'experiment).';
COMMENT ON COLUMN analytics.ab_report_latest.started IS 'Projects started in the arm (D16).';
COMMENT ON COLUMN analytics.ab_report_latest.exported IS 'Of those, projects exported.';
COMMENT ON COLUMN analytics.ab_report_latest.rate IS 'project_completion_rate = exported / started.';
COMMENT ON COLUMN analytics.ab_report_latest.ci_low IS 'Lower end of the 95 percent Wilson interval of rate.';
COMMENT ON COLUMN analytics.ab_report_latest.ci_high IS 'Upper end of the 95 percent Wilson interval of rate.';
COMMENT ON COLUMN analytics.ab_report_latest.ratio_to_control IS 'rate / the control arm''s rate (control: '
    'teacher); NULL on the control arm itself.';
COMMENT ON COLUMN analytics.ab_report_latest.ratio_ci_low IS 'Lower end of the 95 percent interval of the ratio '
    '(delta method on the log ratio).';
COMMENT ON COLUMN analytics.ab_report_latest.ratio_ci_high IS 'Upper end of the 95 percent interval of the ratio.';
COMMENT ON COLUMN analytics.ab_report_latest.srm_p_value IS 'p-value of the sample-ratio-mismatch chi-square test '
    'of projects per arm against the weights.';
COMMENT ON COLUMN analytics.ab_report_latest.srm_flagged IS 'True when srm_p_value < 0.001: the assignment, not '
    'the treatment, is suspect.';
COMMENT ON COLUMN analytics.ab_report_latest.plot_path IS 'Path of the report''s PNG trend plot on the machine '
    'that made it.';
COMMENT ON VIEW analytics.model_history IS 'One row per trained model: its registry state, what it was trained on, '
    'its latest offline evaluation (subset All, plus Overall on r_3 and r_5) and its latest promotion decision.';
COMMENT ON COLUMN analytics.model_history.model_id IS 'The model (models.id).';
COMMENT ON COLUMN analytics.model_history.status IS 'Registry state: candidate, production (at most one) or '
    'retired.';
COMMENT ON COLUMN analytics.model_history.backend IS 'Student family: ngram, seq2seq or causal.';
COMMENT ON COLUMN analytics.model_history.base IS 'The base model of its student config (a hub name or path).';
COMMENT ON COLUMN analytics.model_history.created_at IS 'When it was registered (wall clock).';
COMMENT ON COLUMN analytics.model_history.training_seconds IS 'Training time in seconds.';
COMMENT ON COLUMN analytics.model_history.split_id IS 'The split it was trained on (analytics.dataset_lineage).';
COMMENT ON COLUMN analytics.model_history.groundtruth_run_id IS 'The ground-truth run behind that split.';
COMMENT ON COLUMN analytics.model_history.eval_split_id IS 'The split of its latest evaluation (may be newer than '
    'split_id).';
COMMENT ON COLUMN analytics.model_history.n_test IS 'Test rows of that evaluation (subset All).';
COMMENT ON COLUMN analytics.model_history.adjust_final IS 'Final score of tool adjust on All: 2 F1 Q / (F1 + Q).';
COMMENT ON COLUMN analytics.model_history.selective_adjust_final IS 'Final score of tool selective_adjust on All.';
COMMENT ON COLUMN analytics.model_history.filter_final IS 'Final score of tool filter on All.';
COMMENT ON COLUMN analytics.model_history.overall IS 'Overall on All: the mean of the three finals (what promotion '
    'compares).';
COMMENT ON COLUMN analytics.model_history.overall_r3 IS 'Overall on r_3 (test intents with support >= 3).';
COMMENT ON COLUMN analytics.model_history.overall_r5 IS 'Overall on r_5 (support >= 5).';
COMMENT ON COLUMN analytics.model_history.invalid_rate IS 'Share of its outputs on All that broke their contract '
    '(served as not used).';
COMMENT ON COLUMN analytics.model_history.evaluated_at IS 'When that evaluation ran.';
COMMENT ON COLUMN analytics.model_history.last_decision_promoted IS 'Whether its latest promotion decision '
    'promoted it (NULL: never decided).';
COMMENT ON COLUMN analytics.model_history.last_decision_reason IS 'The reason the registry gave for that decision.';
COMMENT ON COLUMN analytics.model_history.last_decision_at IS 'When that decision was made.';
COMMENT ON VIEW analytics.dataset_lineage IS 'One row per split: the ground-truth run it was cut from, its parent '
    'split (augmented splits), the latest GX verdicts of both, and the models trained on it.';
COMMENT ON COLUMN analytics.dataset_lineage.split_id IS 'The split (sp-...).';
COMMENT ON COLUMN analytics.dataset_lineage.parent_split_id IS 'The split it was derived from (augmentation, '
    'subsample); NULL for a split of a ground-truth run.';
COMMENT ON COLUMN analytics.dataset_lineage.groundtruth_run_id IS 'The ground-truth run (gt-...).';
COMMENT ON COLUMN analytics.dataset_lineage.groundtruth_watermark IS 'That run''s watermark: it counted the events '
    'ingested up to this time.';
COMMENT ON COLUMN analytics.dataset_lineage.teacher_arm IS 'The arm whose responses fed that ground truth (*: '
    'every arm).';
COMMENT ON COLUMN analytics.dataset_lineage.groundtruth_status IS 'That run''s status (running, then succeeded).';
COMMENT ON COLUMN analytics.dataset_lineage.groundtruth_intents IS 'Intents that run kept.';
COMMENT ON COLUMN analytics.dataset_lineage.groundtruth_dropped IS 'Intents that run dropped (no used candidate '
    'ever exported).';
COMMENT ON COLUMN analytics.dataset_lineage.groundtruth_valid IS 'Latest GX verdict on the ground-truth run (NULL: '
    'never validated).';
COMMENT ON COLUMN analytics.dataset_lineage.seed IS 'Seed of the split''s draw.';
COMMENT ON COLUMN analytics.dataset_lineage.test_size IS 'Unique test intents asked for.';
COMMENT ON COLUMN analytics.dataset_lineage.counts IS 'Rows per part, JSON {"train": n, "test": n, ...}.';
COMMENT ON COLUMN analytics.dataset_lineage.params IS 'How it was made, JSON (method; augmentation settings for a '
    'derived split).';
COMMENT ON COLUMN analytics.dataset_lineage.split_created_at IS 'When the split was made (wall clock).';
COMMENT ON COLUMN analytics.dataset_lineage.split_valid IS 'Latest GX verdict on the split (NULL: never '
    'validated).';
COMMENT ON COLUMN analytics.dataset_lineage.n_models IS 'Models trained on this split.';
COMMENT ON COLUMN analytics.dataset_lineage.production_model_id IS 'The production model, when it was trained on '
    'this split.';
COMMENT ON VIEW analytics.pipeline_runs IS 'Every run of a pipeline stage (ground truth, split, augment, train, '
    'evaluate, promote, report, reality check), newest first: what ran, on what, what it made, and how it ended.';
COMMENT ON COLUMN analytics.pipeline_runs.stage IS 'The stage: groundtruth, split, augment, train, evaluate, '
    'promote, report, reality_check.';
COMMENT ON COLUMN analytics.pipeline_runs.run_id IS 'The stage run''s own id.';
COMMENT ON COLUMN analytics.pipeline_runs.status IS 'running, succeeded or failed.';
COMMENT ON COLUMN analytics.pipeline_runs.airflow_run_id IS 'The Airflow DAG run that executed it (NULL: run from '
    'the command line).';
COMMENT ON COLUMN analytics.pipeline_runs.started_at IS 'When it started (wall clock).';
COMMENT ON COLUMN analytics.pipeline_runs.finished_at IS 'When it finished (NULL while running).';
COMMENT ON COLUMN analytics.pipeline_runs.duration_s IS 'finished_at - started_at in seconds.';
COMMENT ON COLUMN analytics.pipeline_runs.inputs IS 'Its inputs, JSON (ids of what it read, parameters).';
COMMENT ON COLUMN analytics.pipeline_runs.outputs IS 'What it made, JSON (ids, counts, paths).';
COMMENT ON COLUMN analytics.pipeline_runs.message IS 'The error of a failed run.';
COMMENT ON VIEW analytics.reality_check IS 'One row per reality-check batch (docs/reality.md), over its tasks with '
    'all their answers: the paper''s counts, Fleiss'' kappa per question, and how the automatic scores agree with '
    'the annotators.';
COMMENT ON COLUMN analytics.reality_check.model_id IS 'The model whose renders were judged.';
COMMENT ON COLUMN analytics.reality_check.batch_id IS 'The batch.';
COMMENT ON COLUMN analytics.reality_check.created_at IS 'When the batch was drawn.';
COMMENT ON COLUMN analytics.reality_check.n_tasks IS 'Tasks (intents) in the batch.';
COMMENT ON COLUMN analytics.reality_check.per_task IS 'Answers wanted per task.';
COMMENT ON COLUMN analytics.reality_check.tasks_done IS 'Tasks with all their answers (the ones counted below).';
COMMENT ON COLUMN analytics.reality_check.tasks_started IS 'Tasks with at least one answer.';
COMMENT ON COLUMN analytics.reality_check.relevant IS 'Done tasks whose majority said the student''s render is '
    'relevant to the intent.';
COMMENT ON COLUMN analytics.reality_check.mimicry IS 'Done tasks whose majority said it mimics the teacher''s '
    'render.';
COMMENT ON COLUMN analytics.reality_check.kappa_relevancy IS 'Fleiss'' kappa of the relevancy answers (NULL when '
    'every answer is the same).';
COMMENT ON COLUMN analytics.reality_check.kappa_mimicry IS 'Fleiss'' kappa of the mimicry answers.';
COMMENT ON COLUMN analytics.reality_check.mean_delta_e IS 'Mean CIEDE2000 between the student''s and the '
    'teacher''s renders over the batch''s tasks (lower: closer).';
COMMENT ON COLUMN analytics.reality_check.mean_ssim IS 'Mean SSIM between those renders (higher: closer).';
COMMENT ON COLUMN analytics.reality_check.r_ssim_mimicry IS 'Pearson r of SSIM with the share of mimics votes over '
    'the done tasks.';
COMMENT ON COLUMN analytics.reality_check.r_delta_e_mimicry IS 'Pearson r of CIEDE2000 with the share of mimics '
    'votes (negative when the score agrees).';
"""


def _frozen(filename: str, name: str) -> str:
    """A constant of an earlier revision (its frozen SQL), loaded by path: revisions are not an importable package."""
    spec = importlib.util.spec_from_file_location(f"_flywheel_rev_{filename[:4]}", Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(getattr(module, name))


def upgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(VIEWS_SQL)
    bind.exec_driver_sql(ROLE_SQL)


def downgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql(REVOKE_SQL)
    bind.exec_driver_sql("".join(f"DROP VIEW IF EXISTS analytics.{v};\n" for v in reversed(VIEWS)))
    bind.exec_driver_sql(_frozen("0009_merge_analytics.py", "VIEWS_SQL"))
    bind.exec_driver_sql(_frozen("0010_pipeline_runs_io.py", "VIEW"))
    bind.exec_driver_sql(_frozen("0012_reality_check.py", "VIEW"))
