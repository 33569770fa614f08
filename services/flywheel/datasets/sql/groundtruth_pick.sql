-- The pick (docs/domain.md#ground-truth) over `agg` (intent_norm, tool, output, shown, exports, last_shown), which
-- the statement defines first (groundtruth_full.sql or groundtruth_aggregates.sql); groundtruth_pivot.sql
-- follows (the picks side by side), then groundtruth_store.sql or groundtruth_repick.sql with what to write.
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
    ORDER BY intent_norm, tool, /*RANK*/
),
picked AS (
    SELECT intent_norm, tool, output, intent_exports > 0 AS kept, shown::int AS shown, exports::int AS exports,
           support::int AS support, n_candidates::int AS n_candidates,
           CASE WHEN tool_exported THEN 'export_rate' ELSE 'most_frequent' END AS rule
    FROM pick
),
