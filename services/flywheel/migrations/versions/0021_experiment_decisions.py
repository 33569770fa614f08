"""experiments that decide: phases, decisions, and the analyst views of decisions and of what the student saves

* ``experiment_phases``: one row per phase of a decided experiment. A phase is its own ``experiments`` row (own salt,
  weights, window), so the router, the A/B report and the analyst views need no change to read it; this table ties
  the phases of one series together with the rule registered for them (margin, alpha, guardrails, prices) and the
  decision that began each one.
* ``experiment_decisions``: every look of the rule (flywheel.experiments.decide): outcome, the check that decided,
  the confidence sequence and the fixed-horizon interval, users per arm, SRM, and the figures read (JSON).
* Views ``analytics.experiment_phases``, ``analytics.experiment_decisions`` and ``analytics.arm_savings_daily``,
  documented with COMMENT ON; frozen here as written (views.sql carries the live copy). The analyst role reads them
  through the default privileges 0019 granted on schema analytics.

Revision ID: 0021
Revises: 0020
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

VIEWS = ("experiment_phases", "experiment_decisions", "arm_savings_daily")

VIEWS_SQL = r"""
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
"""


def upgrade() -> None:
    op.create_table(
        "experiment_phases",
        sa.Column("experiment_id", sa.Text(), nullable=False),
        sa.Column("series_id", sa.Text(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("student_weight", sa.Double(), nullable=False),
        sa.Column("rule", postgresql.JSONB(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision_id", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name=op.f("fk_experiment_phases_experiment_id_experiments"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("experiment_id", name=op.f("pk_experiment_phases")),
    )
    op.create_index("ix_experiment_phases_series_id", "experiment_phases", ["series_id"])
    op.create_table(
        "experiment_decisions",
        sa.Column("decision_id", sa.Text(), nullable=False),
        sa.Column("series_id", sa.Text(), nullable=False),
        sa.Column("experiment_id", sa.Text(), nullable=False),
        sa.Column("phase", sa.Integer(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("check_name", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("next_experiment_id", sa.Text(), nullable=True),
        sa.Column("ratio", sa.Double(), nullable=True),
        sa.Column("seq_low", sa.Double(), nullable=True),
        sa.Column("seq_high", sa.Double(), nullable=True),
        sa.Column("fixed_low", sa.Double(), nullable=True),
        sa.Column("fixed_high", sa.Double(), nullable=True),
        sa.Column("users_student", sa.Integer(), nullable=False),
        sa.Column("users_teacher", sa.Integer(), nullable=False),
        sa.Column("srm_p_value", sa.Double(), nullable=True),
        sa.Column("rule", postgresql.JSONB(), nullable=False),
        sa.Column("figures", postgresql.JSONB(), nullable=False),
        sa.ForeignKeyConstraint(["experiment_id"], ["experiments.experiment_id"],
                                name=op.f("fk_experiment_decisions_experiment_id_experiments"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_experiment_decisions")),
    )
    op.create_index("ix_experiment_decisions_series_id", "experiment_decisions", ["series_id"])
    op.create_index("ix_experiment_decisions_experiment_id", "experiment_decisions", ["experiment_id"])
    op.get_bind().exec_driver_sql(VIEWS_SQL)


def downgrade() -> None:
    op.get_bind().exec_driver_sql("".join(f"DROP VIEW IF EXISTS analytics.{v};\n" for v in reversed(VIEWS)))
    op.drop_table("experiment_decisions")
    op.drop_table("experiment_phases")
