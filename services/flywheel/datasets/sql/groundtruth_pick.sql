-- The pick (docs/domain.md#ground-truth) over `agg` (intent_norm, tool, output, shown, exports, last_shown), which
-- the statement defines first (groundtruth_full.sql or groundtruth_aggregates.sql); groundtruth_store.sql or
-- groundtruth_repick.sql follows with what to write.
--  * the zero-export filter counts exports of used candidates only (a tool that was not used cannot be exported);
--    an intent it drops is still picked, with kept = false: its counts stay in the run (docs/domain.md#d21).
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
picked AS (
    SELECT intent_norm, tool, output, intent_exports > 0 AS kept, shown::int AS shown, exports::int AS exports,
           support::int AS support, n_candidates::int AS n_candidates,
           CASE WHEN tool_exported THEN 'export_rate' ELSE 'most_frequent' END AS rule
    FROM pick
),
-- One row per intent, its three tools side by side: the shape of groundtruth_picks (support and kept are the
-- intent's: every counted response shows each tool once).
picks AS (
    SELECT intent_norm, bool_or(kept) AS kept, max(support) AS support,
           (array_agg(output) FILTER (WHERE tool = 'adjust'))[1] AS adjust,
           max(shown) FILTER (WHERE tool = 'adjust') AS adjust_shown,
           max(exports) FILTER (WHERE tool = 'adjust') AS adjust_exports,
           max(n_candidates) FILTER (WHERE tool = 'adjust') AS adjust_candidates,
           max(rule) FILTER (WHERE tool = 'adjust') AS adjust_rule,
           (array_agg(output) FILTER (WHERE tool = 'selective_adjust'))[1] AS selective_adjust,
           max(shown) FILTER (WHERE tool = 'selective_adjust') AS selective_adjust_shown,
           max(exports) FILTER (WHERE tool = 'selective_adjust') AS selective_adjust_exports,
           max(n_candidates) FILTER (WHERE tool = 'selective_adjust') AS selective_adjust_candidates,
           max(rule) FILTER (WHERE tool = 'selective_adjust') AS selective_adjust_rule,
           (array_agg(output) FILTER (WHERE tool = 'filter'))[1] AS filter,
           max(shown) FILTER (WHERE tool = 'filter') AS filter_shown,
           max(exports) FILTER (WHERE tool = 'filter') AS filter_exports,
           max(n_candidates) FILTER (WHERE tool = 'filter') AS filter_candidates,
           max(rule) FILTER (WHERE tool = 'filter') AS filter_rule
    FROM picked
    GROUP BY intent_norm
),
