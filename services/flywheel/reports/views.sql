-- Analyst views (schema analytics). Recreated by flywheel.reports.views.create_views (idempotent).
-- Every view and column carries a COMMENT: `\d+` in psql explains it, and docs/analytics.md is generated from these
-- comments (`flywheel db dictionary`). Projects are counted by the A/B report's rules (D16, flywheel.reports.ab).
CREATE SCHEMA IF NOT EXISTS analytics;

DROP VIEW IF EXISTS analytics.arm_savings_daily;
DROP VIEW IF EXISTS analytics.experiment_decisions;
DROP VIEW IF EXISTS analytics.experiment_phases;
DROP VIEW IF EXISTS analytics.dag_run_tasks;
DROP VIEW IF EXISTS analytics.groundtruth_evidence;
DROP VIEW IF EXISTS analytics.promotions;
DROP VIEW IF EXISTS analytics.model_serving_daily;
DROP VIEW IF EXISTS analytics.reality_check;
DROP VIEW IF EXISTS analytics.pipeline_runs;
DROP VIEW IF EXISTS analytics.ab_report_latest;
DROP VIEW IF EXISTS analytics.arm_daily_completion;
DROP VIEW IF EXISTS analytics.experiment_assignments;
DROP VIEW IF EXISTS analytics.model_history;
DROP VIEW IF EXISTS analytics.dataset_lineage;

COMMENT ON SCHEMA analytics IS 'Read-only views for analysts: the login that flywheel sql opens (a member of '
    'role flywheel_analytics) reads these and nothing else.';

CREATE VIEW analytics.experiment_assignments AS
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

CREATE VIEW analytics.arm_daily_completion AS
SELECT experiment_id,
       (project_started_at AT TIME ZONE 'UTC')::date AS day,
       arm,
       count(*) AS started,
       count(*) FILTER (WHERE exported) AS exported,
       round(count(*) FILTER (WHERE exported)::numeric / count(*), 4) AS completion_rate
FROM analytics.experiment_assignments
GROUP BY 1, 2, 3;

COMMENT ON VIEW analytics.arm_daily_completion IS 'Live project_completion_rate per experiment, UTC day and arm, '
    'counted as the A/B report counts (D16); the same numbers as a report made now. Intervals and ratios: '
    'analytics.ab_report_latest.';
COMMENT ON COLUMN analytics.arm_daily_completion.experiment_id IS 'The experiment.';
COMMENT ON COLUMN analytics.arm_daily_completion.day IS 'UTC date the projects started.';
COMMENT ON COLUMN analytics.arm_daily_completion.arm IS 'The arm that served them.';
COMMENT ON COLUMN analytics.arm_daily_completion.started IS 'Projects started (the denominator).';
COMMENT ON COLUMN analytics.arm_daily_completion.exported IS 'Of those, projects exported (at any time).';
COMMENT ON COLUMN analytics.arm_daily_completion.completion_rate IS 'exported / started, 4 decimals.';

CREATE VIEW analytics.ab_report_latest AS
WITH latest AS (
    SELECT DISTINCT ON (coalesce(experiment_id, '')) *
    FROM public.ab_reports ORDER BY coalesce(experiment_id, ''), generated_at DESC
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
FROM latest l JOIN public.ab_report_arms a USING (report_id);

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

CREATE VIEW analytics.model_history AS
WITH ev AS (
    SELECT DISTINCT ON (model_id, subset, tool) model_id, split_id, subset, tool, f1, quality, final, overall,
           invalid_rate, n, evaluated_at
    FROM public.evaluations ORDER BY model_id, subset, tool, evaluated_at DESC
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
    FROM public.promotion_decisions ORDER BY model_id, decided_at DESC, id DESC
)
SELECT m.id AS model_id, m.status, m.backend, m.base, m.created_at, m.training_seconds, m.split_id,
       m.groundtruth_run_id, p.eval_split_id, p.n_test, p.adjust_final, p.selective_adjust_final, p.filter_final,
       p.overall, p.overall_r3, p.overall_r5, p.invalid_rate, p.evaluated_at,
       d.promoted AS last_decision_promoted, d.reason AS last_decision_reason, d.decided_at AS last_decision_at
FROM public.models m
LEFT JOIN piv p ON p.model_id = m.id
LEFT JOIN decision d ON d.model_id = m.id;

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

CREATE VIEW analytics.dataset_lineage AS
WITH gx AS (
    SELECT DISTINCT ON (target_kind, target_id) target_kind, target_id, success, n_failed, created_at
    FROM public.validation_results ORDER BY target_kind, target_id, created_at DESC, id DESC
)
SELECT s.split_id, s.parent_split_id, s.groundtruth_run_id, g.watermark AS groundtruth_watermark,
       g.teacher_arm, g.status AS groundtruth_status, g.n_intents AS groundtruth_intents,
       g.n_dropped AS groundtruth_dropped, gg.success AS groundtruth_valid,
       s.seed, s.test_size, s.counts, s.params, s.created_at AS split_created_at, gs.success AS split_valid,
       (SELECT count(*) FROM public.models m WHERE m.split_id = s.split_id) AS n_models,
       (SELECT m.id FROM public.models m WHERE m.split_id = s.split_id AND m.status = 'production' LIMIT 1)
           AS production_model_id
FROM public.splits s
LEFT JOIN public.groundtruth_runs g ON g.run_id = s.groundtruth_run_id
LEFT JOIN gx gg ON gg.target_kind = 'groundtruth' AND gg.target_id = s.groundtruth_run_id
LEFT JOIN gx gs ON gs.target_kind = 'split' AND gs.target_id = s.split_id;

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

CREATE VIEW analytics.pipeline_runs AS
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

-- Per batch: the paper's counts (tasks whose majority said yes), Fleiss' kappa per question over the complete tasks
-- (P_i = (yes^2 + no^2 - n) / (n (n - 1)), kappa = (mean P_i - P_e) / (1 - P_e), P_e = p^2 + (1 - p)^2), and how the
-- automatic mimicry scores go with the share of "mimics" votes (Pearson r).
CREATE VIEW analytics.reality_check AS
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

-- Analysts read through the role the platform creates (migration 0019); views made again keep their grant.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flywheel_analytics') THEN
        GRANT USAGE ON SCHEMA analytics TO flywheel_analytics;
        GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO flywheel_analytics;
    END IF;
END
$$;

-- Experiments that decide (issue 29, migration 0021): phases, decisions, and what the student saves.
CREATE VIEW analytics.experiment_phases AS
SELECT p.series_id, p.phase, p.experiment_id, e.status, e.started_at, e.ended_at, p.student_weight, p.reason,
       p.decision_id, p.rule
FROM public.experiment_phases p
JOIN public.experiments e USING (experiment_id);

CREATE VIEW analytics.experiment_decisions AS
SELECT d.decision_id, d.series_id, d.experiment_id, d.phase, p.student_weight, d.decided_at, d.outcome,
       d.check_name, d.reason, d.action, d.next_experiment_id, d.ratio, d.seq_low, d.seq_high, d.fixed_low,
       d.fixed_high, d.users_student, d.users_teacher, d.srm_p_value,
       (d.figures -> 'student_ops' ->> 'p95_ms')::double precision AS student_p95_ms,
       (d.figures -> 'teacher_ops' ->> 'p95_ms')::double precision AS teacher_p95_ms,
       (d.figures ->> 'student_fallback_rate')::double precision AS student_fallback_rate,
       (d.figures ->> 'student_contract_fix_rate')::double precision AS student_contract_fix_rate,
       (d.rule ->> 'margin')::double precision AS margin, (d.rule ->> 'alpha')::double precision AS alpha
FROM public.experiment_decisions d
LEFT JOIN public.experiment_phases p USING (experiment_id);

CREATE VIEW analytics.arm_savings_daily AS
WITH calls AS (
    SELECT e.experiment_id, (r.occurred_at AT TIME ZONE 'UTC')::date AS day, r.arm,
           count(*) AS responses,
           count(*) FILTER (WHERE coalesce(r.served_by, CASE WHEN r.arm = 'teacher' THEN 'teacher' ELSE 'student'
                                                         END) = 'teacher') AS teacher_calls,
           count(*) FILTER (WHERE coalesce(r.served_by, CASE WHEN r.arm = 'teacher' THEN 'teacher' ELSE 'student'
                                                         END) = 'student') AS student_calls,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY r.latency_ms) FILTER (WHERE r.fallback_reason IS NULL)
               AS p50_latency_ms,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY r.latency_ms) FILTER (WHERE r.fallback_reason IS NULL)
               AS p95_latency_ms
    FROM public.experiments e
    JOIN public.experiment_arms a ON a.experiment_id = e.experiment_id
    JOIN public.responses r ON r.arm = a.arm AND r.occurred_at >= e.started_at
        AND (e.ended_at IS NULL OR r.occurred_at < e.ended_at)
    GROUP BY 1, 2, 3
), done AS (
    SELECT experiment_id, (project_started_at AT TIME ZONE 'UTC')::date AS day, arm,
           count(*) AS projects, count(*) FILTER (WHERE exported) AS exported
    FROM analytics.experiment_assignments GROUP BY 1, 2, 3
), priced AS (
    SELECT c.*, coalesce(d.projects, 0) AS projects, coalesce(d.exported, 0) AS exported,
           (p.rule -> 'prices' ->> 'teacher_tokens_per_call')::double precision AS tokens_per_call,
           (p.rule -> 'prices' ->> 'teacher_usd_per_1k_tokens')::double precision AS usd_per_1k,
           (p.rule -> 'prices' ->> 'student_usd_per_call')::double precision AS student_usd
    FROM calls c
    LEFT JOIN done d USING (experiment_id, day, arm)
    LEFT JOIN public.experiment_phases p USING (experiment_id)
)
SELECT experiment_id, day, arm, responses, teacher_calls, student_calls,
       student_calls AS teacher_calls_avoided,
       student_calls * tokens_per_call AS teacher_tokens_avoided,
       round((student_calls * tokens_per_call * usd_per_1k / 1000)::numeric, 4) AS teacher_usd_avoided,
       round((teacher_calls * tokens_per_call * usd_per_1k / 1000 + student_calls * student_usd)::numeric, 4)
           AS spend_usd,
       round(p50_latency_ms::numeric, 1) AS p50_latency_ms, round(p95_latency_ms::numeric, 1) AS p95_latency_ms,
       projects, exported,
       CASE WHEN exported > 0 THEN round(((teacher_calls * tokens_per_call * usd_per_1k / 1000
                                           + student_calls * student_usd) / exported)::numeric, 6) END
           AS usd_per_completed_project
FROM priced;

COMMENT ON VIEW analytics.experiment_phases IS 'One row per phase of an experiment that decides: each phase is '
    'its own experiments row (own salt, weights, window and analysis); a ship ramps the student up and a roll back '
    'returns everyone to the teacher, each as a new phase.';
COMMENT ON COLUMN analytics.experiment_phases.series_id IS 'The experiment as analysts know it: its first phase''s '
    'experiment_id.';
COMMENT ON COLUMN analytics.experiment_phases.phase IS 'Phase number, 1 for the first.';
COMMENT ON COLUMN analytics.experiment_phases.experiment_id IS 'The experiments row that serves this phase.';
COMMENT ON COLUMN analytics.experiment_phases.status IS 'active while it routes traffic, then ended.';
COMMENT ON COLUMN analytics.experiment_phases.started_at IS 'When the phase began routing.';
COMMENT ON COLUMN analytics.experiment_phases.ended_at IS 'When the next phase (or an operator) ended it.';
COMMENT ON COLUMN analytics.experiment_phases.student_weight IS 'Share of users routed to the student arm(s).';
COMMENT ON COLUMN analytics.experiment_phases.reason IS 'Why it began: start, ship, roll_back or an operator''s '
    'note.';
COMMENT ON COLUMN analytics.experiment_phases.decision_id IS 'The decision that began it (NULL for the first '
    'phase).';
COMMENT ON COLUMN analytics.experiment_phases.rule IS 'The pre-registered rule, JSON: margin, alpha, design_users, '
    'min_users_per_arm, guardrails, and the prices used for savings.';
COMMENT ON VIEW analytics.experiment_decisions IS 'Every look of the decision rule at a phase (flywheel experiment '
    'decide, DAG ab_report): the outcome, the check that decided and the figures it read. Users are the unit.';
COMMENT ON COLUMN analytics.experiment_decisions.decision_id IS 'The decision.';
COMMENT ON COLUMN analytics.experiment_decisions.series_id IS 'The experiment (its first phase''s id).';
COMMENT ON COLUMN analytics.experiment_decisions.experiment_id IS 'The phase it looked at.';
COMMENT ON COLUMN analytics.experiment_decisions.phase IS 'That phase''s number.';
COMMENT ON COLUMN analytics.experiment_decisions.student_weight IS 'The phase''s student share of users.';
COMMENT ON COLUMN analytics.experiment_decisions.decided_at IS 'When it looked (data up to this time).';
COMMENT ON COLUMN analytics.experiment_decisions.outcome IS 'ship, keep_testing or roll_back.';
COMMENT ON COLUMN analytics.experiment_decisions.check_name IS 'The check that decided: srm, guardrail_latency, '
    'guardrail_fallback, guardrail_contract, inferior, min_sample, non_inferior, undecided, no_interval.';
COMMENT ON COLUMN analytics.experiment_decisions.reason IS 'The decision in words, with its numbers.';
COMMENT ON COLUMN analytics.experiment_decisions.action IS 'What it changed: ramp (a new phase at the ship '
    'weight), roll_back (a new phase, teacher only) or none.';
COMMENT ON COLUMN analytics.experiment_decisions.next_experiment_id IS 'The phase the action began (NULL: none).';
COMMENT ON COLUMN analytics.experiment_decisions.ratio IS 'Student completion / teacher completion in the phase.';
COMMENT ON COLUMN analytics.experiment_decisions.seq_low IS 'Lower end of the confidence sequence (valid at every '
    'look; running intersection of the phase''s looks). Ship when above the margin.';
COMMENT ON COLUMN analytics.experiment_decisions.seq_high IS 'Upper end of the confidence sequence. Roll back '
    'when below the margin.';
COMMENT ON COLUMN analytics.experiment_decisions.fixed_low IS 'Lower end of the fixed-horizon 95 percent interval '
    '(users as units; for reading one look only, never for deciding).';
COMMENT ON COLUMN analytics.experiment_decisions.fixed_high IS 'Upper end of that fixed-horizon interval.';
COMMENT ON COLUMN analytics.experiment_decisions.users_student IS 'Users in the student arm so far.';
COMMENT ON COLUMN analytics.experiment_decisions.users_teacher IS 'Users in the teacher arm so far.';
COMMENT ON COLUMN analytics.experiment_decisions.srm_p_value IS 'Sample-ratio-mismatch chi-square p-value of users '
    'per arm against the weights.';
COMMENT ON COLUMN analytics.experiment_decisions.student_p95_ms IS 'The student arm''s own p95 latency (fallbacks '
    'left out).';
COMMENT ON COLUMN analytics.experiment_decisions.teacher_p95_ms IS 'The teacher arm''s p95 latency.';
COMMENT ON COLUMN analytics.experiment_decisions.student_fallback_rate IS 'Share of the student arm''s responses '
    'the teacher served instead.';
COMMENT ON COLUMN analytics.experiment_decisions.student_contract_fix_rate IS 'Share of the student arm''s '
    'responses that fell back because its output broke a contract.';
COMMENT ON COLUMN analytics.experiment_decisions.margin IS 'The non-inferiority margin of the rule.';
COMMENT ON COLUMN analytics.experiment_decisions.alpha IS 'The rule''s alpha over all looks.';
COMMENT ON VIEW analytics.arm_savings_daily IS 'What the student saves, per experiment (phase), UTC day and arm: '
    'calls each backend served, teacher calls, tokens and dollars avoided, latency, and cost per completed '
    'project. Prices are the ones registered with the phase''s rule (NULL without).';
COMMENT ON COLUMN analytics.arm_savings_daily.experiment_id IS 'The experiment (phase).';
COMMENT ON COLUMN analytics.arm_savings_daily.day IS 'UTC date of the responses (and of the projects'' start).';
COMMENT ON COLUMN analytics.arm_savings_daily.arm IS 'The arm.';
COMMENT ON COLUMN analytics.arm_savings_daily.responses IS 'Assistant responses of the arm that day.';
COMMENT ON COLUMN analytics.arm_savings_daily.teacher_calls IS 'Of those, served by the teacher (in a student arm: '
    'fallbacks).';
COMMENT ON COLUMN analytics.arm_savings_daily.student_calls IS 'Of those, served by the student.';
COMMENT ON COLUMN analytics.arm_savings_daily.teacher_calls_avoided IS 'Teacher calls the student replaced '
    '(= student_calls).';
COMMENT ON COLUMN analytics.arm_savings_daily.teacher_tokens_avoided IS 'teacher_calls_avoided times the '
    'registered tokens per teacher call.';
COMMENT ON COLUMN analytics.arm_savings_daily.teacher_usd_avoided IS 'Teacher spend avoided in US dollars.';
COMMENT ON COLUMN analytics.arm_savings_daily.spend_usd IS 'What the arm cost that day: teacher calls at the '
    'teacher''s price plus student calls at the student''s.';
COMMENT ON COLUMN analytics.arm_savings_daily.p50_latency_ms IS 'Median latency of the arm''s own backend '
    '(fallbacks left out).';
COMMENT ON COLUMN analytics.arm_savings_daily.p95_latency_ms IS 'p95 latency of the arm''s own backend.';
COMMENT ON COLUMN analytics.arm_savings_daily.projects IS 'Projects the arm started that day (D16).';
COMMENT ON COLUMN analytics.arm_savings_daily.exported IS 'Of those, exported.';
COMMENT ON COLUMN analytics.arm_savings_daily.usd_per_completed_project IS 'spend_usd / exported.';

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
