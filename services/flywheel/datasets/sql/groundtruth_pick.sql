-- The pick (docs/domain.md#ground-truth) over `agg` (intent_norm, tool, output, shown, exports, last_shown), which
-- the statement defines first (groundtruth_full.sql or groundtruth_aggregates.sql). Parameter: :run_id.
--  * the zero-export filter counts exports of used candidates only (a tool that was not used cannot be exported).
ranked AS (
    SELECT a.*,
           sum(shown) OVER w AS support,
           count(*) OVER w AS n_candidates,
           bool_or(output IS NOT NULL AND exports > 0) OVER w AS tool_exported,
           sum(CASE WHEN output IS NOT NULL THEN exports ELSE 0 END) OVER (PARTITION BY intent_norm) AS intent_exports
    FROM agg a
    WHERE intent_norm IS NOT NULL
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
SELECT count(DISTINCT intent_norm) AS n_intents_seen,
       (SELECT count(*) FROM ins WHERE tool = 'adjust') AS n_intents,
       coalesce(sum(shown) FILTER (WHERE tool = 'adjust' AND intent_norm IS NOT NULL), 0) AS n_responses,
       coalesce(sum(shown) FILTER (WHERE tool = 'adjust'), 0) AS n_joined
FROM agg
