"""the analyst cookbook's views: which model served, what promoted each model, why a pick as of any run, what every
task of a DAG run did

* ``pipeline_runs`` gains ``dag_id``, ``task_id`` and ``try_number``: the Airflow task that made a record
  (flywheel.db.runs reads them from the task's environment), so a DAG run's records are found by DAG and run, and a
  stage run inside another (the production model's evaluation inside ``promote``) names its task. Nullable columns
  without a default: adding them rewrites no row. ``analytics.pipeline_runs`` shows them (appended columns).
* ``analytics.model_serving_daily``: which model served which arm on which day, from the responses (the traffic's
  own clock; promotions are wall clock and cannot be joined to it).
* ``analytics.promotions``: every promotion decision with the evaluation it compared (the candidate's and the
  production model's scores on the candidate's test split), not only a model's latest evaluation.
* ``analytics.groundtruth_evidence``: the candidates and their counts as of any ground-truth run, counted again from
  the events the run counted (ingested up to its watermark, from its arms). Events are never updated and a run's
  watermark and arms pin what it read, so this keeps the history with no new table and no cost to the night
  (``groundtruth_candidates`` keeps only today's totals, and versioning it would add a row per changed candidate to
  every night's fold).
* ``analytics.dag_run_tasks``: every record a task of a DAG run made, gates, skipped augmentation and the training
  plan included, with the DAG, run, task and try.

Every view and column is documented with COMMENT ON (docs/analytics.md is generated from them); the analyst role
reads them (0019). The SQL is frozen here as written; services/flywheel/reports/views.sql carries the live copy.

Revision ID: 0020
Revises: 0019
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

VIEWS = ("model_serving_daily", "promotions", "groundtruth_evidence", "dag_run_tasks")

PIPELINE_RUNS_VIEW = r"""
CREATE OR REPLACE VIEW analytics.pipeline_runs AS
SELECT stage, run_id, status, airflow_run_id, started_at, finished_at,
       extract(epoch FROM finished_at - started_at)::double precision AS duration_s,
       inputs, outputs, message, dag_id, task_id, try_number
FROM public.pipeline_runs
ORDER BY started_at DESC, run_id;

COMMENT ON VIEW analytics.pipeline_runs IS 'Every run of a pipeline stage (ground truth, GX gate, split, augment, '
    'training plan, train, evaluate, promote, report, reality check), newest first: what ran, on what, what it '
    'made, and how it ended. By DAG run: analytics.dag_run_tasks.';
COMMENT ON COLUMN analytics.pipeline_runs.stage IS 'The stage: groundtruth, validate, split, augment, plan, train, '
    'evaluate, promote, report, reality_check.';
COMMENT ON COLUMN analytics.pipeline_runs.run_id IS 'The stage run''s own id.';
COMMENT ON COLUMN analytics.pipeline_runs.status IS 'running, succeeded, failed or skipped (nothing to do; '
    'the reason in message).';
COMMENT ON COLUMN analytics.pipeline_runs.airflow_run_id IS 'The Airflow DAG run that executed it (NULL: run from '
    'the command line).';
COMMENT ON COLUMN analytics.pipeline_runs.started_at IS 'When it started (wall clock).';
COMMENT ON COLUMN analytics.pipeline_runs.finished_at IS 'When it finished (NULL while running).';
COMMENT ON COLUMN analytics.pipeline_runs.duration_s IS 'finished_at - started_at in seconds.';
COMMENT ON COLUMN analytics.pipeline_runs.inputs IS 'Its inputs, JSON (ids of what it read, parameters).';
COMMENT ON COLUMN analytics.pipeline_runs.outputs IS 'What it made, JSON (ids, counts, paths).';
COMMENT ON COLUMN analytics.pipeline_runs.message IS 'The error of a failed run, or why it was skipped.';
COMMENT ON COLUMN analytics.pipeline_runs.dag_id IS 'The Airflow DAG whose task ran it (NULL: the command line, or '
    'recorded before migration 0020).';
COMMENT ON COLUMN analytics.pipeline_runs.task_id IS 'That task.';
COMMENT ON COLUMN analytics.pipeline_runs.try_number IS 'That task''s try.';
"""

VIEWS_SQL = r"""
-- The questions analysts ask (issue 30, migration 0020): which model served, what promoted each model, why a ground
-- truth was picked as of any run, and what every task of a DAG run did.
CREATE VIEW analytics.model_serving_daily AS
WITH served AS (
    SELECT (r.occurred_at AT TIME ZONE 'UTC')::date AS day, r.arm,
           -- served_by is NULL where the arm's own backend served (every row before migration 0018)
           coalesce(r.served_by, CASE WHEN r.arm = 'teacher' THEN 'teacher' ELSE 'student' END) AS served_by,
           r.model_name, r.model_version, count(*) AS responses, count(DISTINCT r.project_id) AS projects,
           count(*) FILTER (WHERE r.fallback_reason IS NOT NULL) AS fallbacks,
           min(r.occurred_at) AS first_response_at, max(r.occurred_at) AS last_response_at
    FROM public.responses r
    GROUP BY 1, 2, 3, 4, 5
)
SELECT s.day, s.arm, s.served_by, s.model_name, s.model_version, m.id AS model_id, s.responses,
       round(s.responses::numeric / sum(s.responses) OVER (PARTITION BY s.day, s.arm), 4) AS share_of_arm,
       s.projects, s.fallbacks, s.first_response_at, s.last_response_at
FROM served s
LEFT JOIN public.models m ON m.id = s.model_version;

COMMENT ON VIEW analytics.model_serving_daily IS 'Which model served which arm on which day, read from the '
    'responses themselves: one row per UTC day (of the traffic''s own clock, the clock of arm_daily_completion), '
    'arm, backend that served and model version. Promotion times are wall clock and cannot say this.';
COMMENT ON COLUMN analytics.model_serving_daily.day IS 'UTC date of the responses (their occurred_at).';
COMMENT ON COLUMN analytics.model_serving_daily.arm IS 'The arm the user was routed to.';
COMMENT ON COLUMN analytics.model_serving_daily.served_by IS 'The backend whose outputs the user got: teacher or '
    'student (a student arm''s request the student could not answer is served by the teacher).';
COMMENT ON COLUMN analytics.model_serving_daily.model_name IS 'The model name the response carries (the teacher''s '
    'LLM, or the student''s name).';
COMMENT ON COLUMN analytics.model_serving_daily.model_version IS 'The model version the response carries (a '
    'student''s registry model id).';
COMMENT ON COLUMN analytics.model_serving_daily.model_id IS 'The registry model (models.id, analytics.promotions) '
    'when model_version names one, else NULL (the teacher).';
COMMENT ON COLUMN analytics.model_serving_daily.responses IS 'Responses of this model in this arm that day.';
COMMENT ON COLUMN analytics.model_serving_daily.share_of_arm IS 'responses / all responses of the arm that day, 4 '
    'decimals: below 1 when two models (a promotion during the day, or fallbacks) shared the arm.';
COMMENT ON COLUMN analytics.model_serving_daily.projects IS 'Distinct projects among those responses.';
COMMENT ON COLUMN analytics.model_serving_daily.fallbacks IS 'Of those responses, how many the teacher served '
    'because the student could not (responses.fallback_reason set).';
COMMENT ON COLUMN analytics.model_serving_daily.first_response_at IS 'The first of those responses (traffic clock).';
COMMENT ON COLUMN analytics.model_serving_daily.last_response_at IS 'The last of those responses (traffic clock).';

CREATE VIEW analytics.promotions AS
WITH ev AS (
    SELECT model_id, split_id,
           max(n) FILTER (WHERE subset = 'All') AS n_test,
           max(final) FILTER (WHERE subset = 'All' AND tool = 'adjust') AS adjust_final,
           max(final) FILTER (WHERE subset = 'All' AND tool = 'selective_adjust') AS selective_adjust_final,
           max(final) FILTER (WHERE subset = 'All' AND tool = 'filter') AS filter_final,
           max(overall) FILTER (WHERE subset = 'All') AS overall,
           max(overall) FILTER (WHERE subset = 'r_3') AS overall_r3,
           max(overall) FILTER (WHERE subset = 'r_5') AS overall_r5,
           max(invalid_rate) FILTER (WHERE subset = 'All') AS invalid_rate,
           max(evaluated_at) AS evaluated_at
    FROM public.evaluations
    GROUP BY model_id, split_id
)
SELECT d.id AS decision_id, d.model_id, d.decided_at, d.promoted, d.reason, d.split_id AS test_split_id,
       d.candidate_overall, d.production_model_id, d.production_overall,
       d.candidate_overall - d.production_overall AS overall_delta,
       c.n_test, c.adjust_final, c.selective_adjust_final, c.filter_final, c.overall_r3, c.overall_r5,
       c.invalid_rate, c.evaluated_at,
       p.adjust_final AS production_adjust_final, p.selective_adjust_final AS production_selective_adjust_final,
       p.filter_final AS production_filter_final,
       CASE WHEN d.promoted THEN (SELECT min(n.decided_at) FROM public.promotion_decisions n
                                  WHERE n.promoted AND n.decided_at > d.decided_at) END AS production_until,
       r.dag_id, r.airflow_run_id
FROM public.promotion_decisions d
LEFT JOIN ev c ON c.model_id = d.model_id AND c.split_id = d.split_id
LEFT JOIN ev p ON p.model_id = d.production_model_id AND p.split_id = d.split_id
LEFT JOIN LATERAL (
    -- the promote stage run that made this decision: the latest one of this model begun by then
    SELECT x.dag_id, x.airflow_run_id FROM public.pipeline_runs x
    WHERE x.stage = 'promote' AND x.outputs ->> 'model_id' = d.model_id AND x.started_at <= d.decided_at
    ORDER BY x.started_at DESC LIMIT 1
) r ON true;

COMMENT ON VIEW analytics.promotions IS 'Every promotion decision (promoted or refused), one row each, with the '
    'evaluation it compared: the candidate''s and the production model''s scores on the candidate''s own test split. '
    'WHERE promoted gives the evaluation that promoted each model (analytics.model_history shows only the latest).';
COMMENT ON COLUMN analytics.promotions.decision_id IS 'The decision (promotion_decisions.id).';
COMMENT ON COLUMN analytics.promotions.model_id IS 'The candidate model.';
COMMENT ON COLUMN analytics.promotions.decided_at IS 'When the registry decided (wall clock).';
COMMENT ON COLUMN analytics.promotions.promoted IS 'True: the candidate became the production model.';
COMMENT ON COLUMN analytics.promotions.reason IS 'The registry''s reason, with the figures, margin and floor it '
    'applied.';
COMMENT ON COLUMN analytics.promotions.test_split_id IS 'The split whose test part both models were scored on (the '
    'candidate''s own split).';
COMMENT ON COLUMN analytics.promotions.candidate_overall IS 'The candidate''s Overall on that test part (subset '
    'All): the figure the gate compared.';
COMMENT ON COLUMN analytics.promotions.production_model_id IS 'The production model it was compared with (NULL: '
    'there was none, the first promotion).';
COMMENT ON COLUMN analytics.promotions.production_overall IS 'That model''s Overall on the same test part.';
COMMENT ON COLUMN analytics.promotions.overall_delta IS 'candidate_overall - production_overall (promoted when it '
    'is at least minus the margin and the candidate clears the floor).';
COMMENT ON COLUMN analytics.promotions.n_test IS 'Test rows of that evaluation.';
COMMENT ON COLUMN analytics.promotions.adjust_final IS 'The candidate''s final score of tool adjust on that test '
    'part (All).';
COMMENT ON COLUMN analytics.promotions.selective_adjust_final IS 'The candidate''s final score of tool '
    'selective_adjust.';
COMMENT ON COLUMN analytics.promotions.filter_final IS 'The candidate''s final score of tool filter.';
COMMENT ON COLUMN analytics.promotions.overall_r3 IS 'The candidate''s Overall on r_3 (test intents with support '
    '>= 3).';
COMMENT ON COLUMN analytics.promotions.overall_r5 IS 'The candidate''s Overall on r_5 (support >= 5).';
COMMENT ON COLUMN analytics.promotions.invalid_rate IS 'Share of the candidate''s outputs that broke their '
    'contract.';
COMMENT ON COLUMN analytics.promotions.evaluated_at IS 'When the candidate was evaluated on that split.';
COMMENT ON COLUMN analytics.promotions.production_adjust_final IS 'The production model''s final score of tool '
    'adjust on the same test part.';
COMMENT ON COLUMN analytics.promotions.production_selective_adjust_final IS 'Its final score of tool '
    'selective_adjust.';
COMMENT ON COLUMN analytics.promotions.production_filter_final IS 'Its final score of tool filter.';
COMMENT ON COLUMN analytics.promotions.production_until IS 'For a promotion: when the next promotion replaced '
    'this model (wall clock; NULL: still production, or never promoted). Which model served the traffic: '
    'analytics.model_serving_daily.';
COMMENT ON COLUMN analytics.promotions.dag_id IS 'The Airflow DAG whose promote task decided (NULL: the command '
    'line).';
COMMENT ON COLUMN analytics.promotions.airflow_run_id IS 'That DAG run (analytics.dag_run_tasks).';

-- Why a pick, as of any run: the run's candidates counted again from the events it counted (those ingested up to its
-- watermark, from its arms), by the ground-truth rules (datasets/sql/groundtruth_full.sql, groundtruth_rank.sql).
CREATE VIEW analytics.groundtruth_evidence AS
WITH agg AS (
    SELECT q.run_id, q.seq, q.intent_norm, v.tool, nullif(v.output, 'null'::jsonb) AS output,
           count(*) AS shown, count(*) FILTER (WHERE v.exported) AS exports, max(p.occurred_at) AS last_shown
    FROM (
        -- each request counts under its first ingested intent (D4)
        SELECT r.run_id, r.seq, r.watermark, r.arms, r.teacher_arm, i.request_id, i.intent_norm
        FROM public.groundtruth_runs r
        JOIN public.intents i ON i.ingested_at <= r.watermark
        WHERE r.status = 'succeeded'
          AND NOT EXISTS (SELECT 1 FROM public.intents j WHERE j.request_id = i.request_id
                          AND (j.ingested_at, j.event_id) < (i.ingested_at, i.event_id))
    ) q
    JOIN public.responses p ON p.request_id = q.request_id AND p.ingested_at <= q.watermark
     AND (q.arms = 'all' OR p.arm = q.teacher_arm)
    CROSS JOIN LATERAL (
        SELECT coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'adjust'), false) AS ex_a,
               coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'selective_adjust'), false) AS ex_s,
               coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'filter'), false) AS ex_f
        FROM public.tool_exports x WHERE x.request_id = q.request_id AND x.ingested_at <= q.watermark
    ) e
    CROSS JOIN LATERAL (VALUES ('adjust', p.adjust, e.ex_a), ('selective_adjust', p.selective_adjust, e.ex_s),
                               ('filter', p.filter, e.ex_f)) AS v(tool, output, exported)
    GROUP BY 1, 2, 3, 4, 5
)
SELECT run_id, seq AS run_seq, intent_norm, tool,
       row_number() OVER w AS rank,
       row_number() OVER w = 1 AS picked,
       output, shown, exports,
       CASE WHEN output IS NOT NULL THEN round(exports::numeric / shown, 4) END AS export_rate,
       last_shown,
       count(*) OVER t AS n_candidates,
       sum(shown) OVER t AS support,
       CASE WHEN bool_or(output IS NOT NULL AND exports > 0) OVER t THEN 'export_rate' ELSE 'most_frequent' END
           AS rule
FROM agg
WINDOW t AS (PARTITION BY run_id, intent_norm, tool),
       w AS (t ORDER BY (output IS NOT NULL AND exports > 0) DESC,
             CASE WHEN output IS NOT NULL THEN exports::float8 / shown ELSE 0 END DESC,
             CASE WHEN output IS NOT NULL THEN exports ELSE 0 END DESC,
             shown DESC, last_shown DESC, output::text);

COMMENT ON VIEW analytics.groundtruth_evidence IS 'Why each intent''s ground truth was picked, as of any '
    'ground-truth run: one row per run, intent, tool and candidate output, with the counts that run saw and the '
    'candidate''s rank under the rules (docs/domain.md, ground truth); rank 1 is the run''s pick. Counted again '
    'from the events the run counted (ingested up to its watermark, from its arms): filter by run_id and/or '
    'intent_norm.';
COMMENT ON COLUMN analytics.groundtruth_evidence.run_id IS 'The ground-truth run (gt-..., '
    'analytics.dataset_lineage).';
COMMENT ON COLUMN analytics.groundtruth_evidence.run_seq IS 'The run''s place in time: higher is later.';
COMMENT ON COLUMN analytics.groundtruth_evidence.intent_norm IS 'The normalized intent.';
COMMENT ON COLUMN analytics.groundtruth_evidence.tool IS 'The tool: adjust, selective_adjust or filter.';
COMMENT ON COLUMN analytics.groundtruth_evidence.rank IS 'The candidate''s place under the rule: an exported, '
    'used candidate first, then export rate, exports, showings, the most recent showing, its JSON text.';
COMMENT ON COLUMN analytics.groundtruth_evidence.picked IS 'True for rank 1: the run''s ground truth for this '
    'intent and tool.';
COMMENT ON COLUMN analytics.groundtruth_evidence.output IS 'The candidate output, JSON (NULL: the tool not used).';
COMMENT ON COLUMN analytics.groundtruth_evidence.shown IS 'Showings of this candidate the run counted (each '
    'response one showing).';
COMMENT ON COLUMN analytics.groundtruth_evidence.exports IS 'Of those showings, how many were exported.';
COMMENT ON COLUMN analytics.groundtruth_evidence.export_rate IS 'exports / shown, 4 decimals (NULL for the unused '
    'candidate: it cannot be exported).';
COMMENT ON COLUMN analytics.groundtruth_evidence.last_shown IS 'Its most recent showing (traffic clock): the last '
    'tie-break.';
COMMENT ON COLUMN analytics.groundtruth_evidence.n_candidates IS 'Candidates of this intent and tool in the run.';
COMMENT ON COLUMN analytics.groundtruth_evidence.support IS 'The intent''s showings in the run.';
COMMENT ON COLUMN analytics.groundtruth_evidence.rule IS 'export_rate when some used candidate was exported, else '
    'most_frequent (the fallback).';

CREATE VIEW analytics.dag_run_tasks AS
SELECT p.dag_id, p.airflow_run_id AS dag_run_id, p.task_id, p.try_number, p.stage, p.status,
       p.started_at, p.finished_at, extract(epoch FROM p.finished_at - p.started_at)::double precision AS duration_s,
       CASE p.stage WHEN 'groundtruth' THEN p.outputs ->> 'groundtruth_run_id'
                    WHEN 'validate' THEN p.inputs ->> 'target_id'
                    WHEN 'split' THEN p.outputs ->> 'split_id'
                    WHEN 'augment' THEN p.outputs ->> 'split_id'
                    WHEN 'plan' THEN p.outputs ->> 'model_id'
                    WHEN 'train' THEN p.outputs ->> 'model_id'
                    WHEN 'evaluate' THEN p.inputs ->> 'model_id'
                    WHEN 'promote' THEN p.inputs ->> 'model_id'
                    WHEN 'reality_check' THEN p.outputs ->> 'batch_id'
                    WHEN 'report' THEN p.outputs ->> 'report_id' END AS subject,
       CASE WHEN p.status IN ('failed', 'skipped') THEN left(p.message, 300)
            WHEN p.stage = 'promote' THEN p.outputs ->> 'reason'
            WHEN p.stage = 'validate' THEN (p.inputs ->> 'target_kind') || CASE WHEN (p.outputs ->> 'success')::boolean
                THEN ' passed ' ELSE ' FAILED ' END || (p.outputs ->> 'n_passed') || '/'
                || (p.outputs ->> 'n_expectations') || ' expectations'
            WHEN p.stage = 'evaluate' THEN 'overall ' || round((p.outputs ->> 'overall')::numeric, 4) || ' on '
                || (p.outputs ->> 'split_id')
            WHEN p.stage = 'groundtruth' THEN (p.outputs ->> 'n_intents') || ' intents'
                || CASE WHEN (p.outputs ->> 'created')::boolean THEN '' ELSE ' (a stored run: same watermark)' END
            WHEN p.stage IN ('split', 'augment') THEN p.outputs ->> 'counts'
            WHEN p.stage = 'reality_check' THEN (p.outputs ->> 'n_tasks') || ' tasks for the annotation app'
            WHEN p.stage = 'plan' THEN (p.outputs -> 'config' ->> 'backend') || ' student, '
                || (p.outputs ->> 'launcher') || ' launcher'
            WHEN p.stage = 'train' THEN coalesce('overall ' || round((p.outputs ->> 'overall')::numeric, 4)
                || ', ', '') || 'trained in ' || (p.outputs ->> 'training_seconds') || ' s' END AS outcome,
       p.run_id AS record_id, p.inputs, p.outputs, p.message
FROM public.pipeline_runs p
WHERE p.airflow_run_id IS NOT NULL
ORDER BY min(p.started_at) OVER (PARTITION BY p.dag_id, p.airflow_run_id) DESC, p.started_at, p.run_id;

COMMENT ON VIEW analytics.dag_run_tasks IS 'What every task of every Airflow DAG run did: one row per stage record '
    'a task made (ground truth, each GX gate, the split, augmentation, run or skipped, the training plan, training, '
    'each evaluation, the promotion, the reality check, the A/B report), newest run first, its records in the '
    'order they began.';
COMMENT ON COLUMN analytics.dag_run_tasks.dag_id IS 'The DAG (flywheel_nightly, flywheel_retrain, '
    'flywheel_groundtruth, ab_report); NULL for records made before migration 0020 or outside a task''s process.';
COMMENT ON COLUMN analytics.dag_run_tasks.dag_run_id IS 'The DAG run (Airflow''s run_id, as in its UI).';
COMMENT ON COLUMN analytics.dag_run_tasks.task_id IS 'The task that made the record (a stage another stage ran, '
    'like the production model''s evaluation inside promote, names the outer task).';
COMMENT ON COLUMN analytics.dag_run_tasks.try_number IS 'The task''s try (1 unless it was retried).';
COMMENT ON COLUMN analytics.dag_run_tasks.stage IS 'What ran: groundtruth, validate (a GX gate), split, augment, '
    'plan, train, evaluate, promote, reality_check, report.';
COMMENT ON COLUMN analytics.dag_run_tasks.status IS 'running, succeeded, failed, or skipped (it had nothing to '
    'do; the reason in outcome).';
COMMENT ON COLUMN analytics.dag_run_tasks.started_at IS 'When it started (wall clock).';
COMMENT ON COLUMN analytics.dag_run_tasks.finished_at IS 'When it finished (NULL while running).';
COMMENT ON COLUMN analytics.dag_run_tasks.duration_s IS 'finished_at - started_at in seconds.';
COMMENT ON COLUMN analytics.dag_run_tasks.subject IS 'What it made or judged: the ground-truth run, the gated run '
    'or split, the split, the planned or trained model, the evaluated or promoted model, the batch, the report.';
COMMENT ON COLUMN analytics.dag_run_tasks.outcome IS 'In a few words: the error or skip reason, the gate''s '
    'verdict, the promotion''s reason, the Overall of an evaluation or training, the counts of a split.';
COMMENT ON COLUMN analytics.dag_run_tasks.record_id IS 'The record (analytics.pipeline_runs.run_id).';
COMMENT ON COLUMN analytics.dag_run_tasks.inputs IS 'Its inputs, JSON.';
COMMENT ON COLUMN analytics.dag_run_tasks.outputs IS 'What it made, JSON.';
COMMENT ON COLUMN analytics.dag_run_tasks.message IS 'The full error of a failed record, or why it was skipped.';
"""

GRANT_SQL = r"""
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flywheel_analytics') THEN
        GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO flywheel_analytics;
    END IF;
END
$$;
"""

# analytics.pipeline_runs as 0019 documented it (restored by the downgrade).
OLD_PIPELINE_RUNS_COMMENTS = r"""
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
"""


def _frozen(filename: str, name: str) -> str:
    """A constant of an earlier revision (its frozen SQL), loaded by path: revisions are not an importable package."""
    spec = importlib.util.spec_from_file_location(f"_flywheel_rev_{filename[:4]}", Path(__file__).with_name(filename))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return str(getattr(module, name))


def upgrade() -> None:
    op.add_column("pipeline_runs", sa.Column("dag_id", sa.String(250), nullable=True))
    op.add_column("pipeline_runs", sa.Column("task_id", sa.String(250), nullable=True))
    op.add_column("pipeline_runs", sa.Column("try_number", sa.Integer(), nullable=True))
    bind = op.get_bind()
    bind.exec_driver_sql(PIPELINE_RUNS_VIEW)
    bind.exec_driver_sql(VIEWS_SQL)
    bind.exec_driver_sql(GRANT_SQL)


def downgrade() -> None:
    bind = op.get_bind()
    bind.exec_driver_sql("".join(f"DROP VIEW IF EXISTS analytics.{v};\n" for v in reversed(VIEWS)))
    # A view cannot lose columns in place: 0010's definition again, with 0019's comments.
    bind.exec_driver_sql("DROP VIEW analytics.pipeline_runs")
    bind.exec_driver_sql(_frozen("0010_pipeline_runs_io.py", "VIEW"))
    bind.exec_driver_sql(OLD_PIPELINE_RUNS_COMMENTS)
    bind.exec_driver_sql(GRANT_SQL)
    op.drop_column("pipeline_runs", "try_number")
    op.drop_column("pipeline_runs", "task_id")
    op.drop_column("pipeline_runs", "dag_id")
