-- Analyst views (schema analytics). Recreated by flywheel.reports.views.create_views (idempotent).
-- Every view and column carries a COMMENT: `\d+` in psql explains it, and docs/analytics.md is generated from these
-- comments (`flywheel db dictionary`). Projects are counted by the A/B report's rules (D16, flywheel.reports.ab).
CREATE SCHEMA IF NOT EXISTS analytics;

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
       inputs, outputs, message
FROM public.pipeline_runs
ORDER BY started_at DESC, run_id;

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

-- Analysts read through the role the platform creates (migration 0019); views made again keep their grant.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'flywheel_analytics') THEN
        GRANT USAGE ON SCHEMA analytics TO flywheel_analytics;
        GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO flywheel_analytics;
    END IF;
END
$$;
