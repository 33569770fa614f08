-- `picked` (intent_norm, tool, output, kept, shown, exports, support, n_candidates, rule: groundtruth_pick.sql or
-- groundtruth_pick_changed.sql) as `picks`.
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
