-- Export-rate ground truth (docs/domain.md#ground-truth), set-based, for one run.
-- Parameters: :run_id, :arm (the teacher arm), :all_arms (true: every arm's responses are candidates, not only the
-- teacher arm's), :watermark (only events ingested up to it are considered).
--
-- Decisions (see groundtruth.py for the full list):
--  * every response of the arms that feed ground truth (the teacher arm, or all arms) is one showing
--    (docs/domain.md#d4-showings-and-duplicate-events);
--  * one intent per request: this fast path joins intents directly (no per-request aggregate: the extra hash table
--    made the 10M-event run 20-30 % slower per event); groundtruth.py compares the joined response count with the
--    table's and, if an intent was re-sent under a new event id, reruns with a per-request dedupe (one intent_norm per
--    request);
--  * JSON null stored as a value ('null'::jsonb) is the same candidate as SQL NULL: "tool not used";
--  * exported = bool_or over duplicate tool_exported events of the same request and tool (pivoted per request:
--    one hash entry per request instead of three);
--  * the zero-export filter counts exports of used candidates only (a tool that was not used cannot be exported).
WITH req AS (
    /*REQ*/
),
resp AS (
    SELECT r.request_id, r.occurred_at, r.adjust, r.selective_adjust, r.filter
    FROM responses r
    WHERE (CAST(:all_arms AS boolean) OR r.arm = :arm) AND r.ingested_at <= :watermark
),
exp AS (
    SELECT request_id,
           coalesce(bool_or(exported) FILTER (WHERE tool = 'adjust'), false) AS ex_a,
           coalesce(bool_or(exported) FILTER (WHERE tool = 'selective_adjust'), false) AS ex_s,
           coalesce(bool_or(exported) FILTER (WHERE tool = 'filter'), false) AS ex_f
    FROM tool_exports
    WHERE ingested_at <= :watermark
    GROUP BY request_id
),
cand AS (
    SELECT q.intent_norm, v.tool, nullif(v.output, 'null'::jsonb) AS output, p.occurred_at,
           coalesce(v.exported, false) AS exported
    FROM resp p
    JOIN req q ON q.request_id = p.request_id
    LEFT JOIN exp e ON e.request_id = p.request_id
    CROSS JOIN LATERAL (VALUES ('adjust', p.adjust, e.ex_a), ('selective_adjust', p.selective_adjust, e.ex_s),
                               ('filter', p.filter, e.ex_f)) AS v(tool, output, exported)
),
agg AS (
    SELECT intent_norm, tool, output,
           count(*) AS shown,
           count(*) FILTER (WHERE exported) AS exports,
           max(occurred_at) AS last_shown
    FROM cand
    GROUP BY intent_norm, tool, output
),
ranked AS (
    SELECT a.*,
           sum(shown) OVER w AS support,
           count(*) OVER w AS n_candidates,
           bool_or(output IS NOT NULL AND exports > 0) OVER w AS tool_exported,
           sum(CASE WHEN output IS NOT NULL THEN exports ELSE 0 END) OVER (PARTITION BY intent_norm) AS intent_exports
    FROM agg a
    WINDOW w AS (PARTITION BY intent_norm, tool)
),
pick AS (
    SELECT DISTINCT ON (intent_norm, tool) *
    FROM ranked
    WHERE intent_exports > 0
    ORDER BY intent_norm, tool,
             -- an exported, used candidate always beats the rest; among them: rate, exports, shown, most recent.
             (output IS NOT NULL AND exports > 0) DESC,
             CASE WHEN output IS NOT NULL THEN exports::float8 / shown ELSE 0 END DESC,
             CASE WHEN output IS NOT NULL THEN exports ELSE 0 END DESC,
             -- fallback (no used candidate of this tool was exported): the most frequent output, then most recent.
             shown DESC,
             last_shown DESC,
             output::text  -- total order, so the pick never depends on the plan
),
ins AS (
    INSERT INTO groundtruth_rows
        (run_id, intent_norm, tool, output, used, shown, exports, export_rate, support, n_candidates, rule)
    SELECT :run_id, intent_norm, tool, output, output IS NOT NULL, shown, exports,
           exports::float8 / shown, support, n_candidates,
           CASE WHEN tool_exported THEN 'export_rate' ELSE 'most_frequent' END
    FROM pick
    RETURNING intent_norm, tool
)
SELECT (SELECT count(DISTINCT intent_norm) FROM agg) AS n_intents_seen,
       (SELECT count(*) FROM ins WHERE tool = 'adjust') AS n_intents,
       (SELECT coalesce(sum(shown), 0) FROM agg WHERE tool = 'adjust') AS n_responses
