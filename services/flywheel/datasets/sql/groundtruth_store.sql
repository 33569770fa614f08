-- Every pick becomes a version of :lineage from run :seq on (a full run, or the first run of an incremental lineage);
-- the counts come from `agg`. Follows groundtruth_pick.sql.
ins AS (
    INSERT INTO groundtruth_picks (lineage, valid_from, intent_norm,
                                   kept, support, adjust, adjust_shown, adjust_exports, adjust_candidates,
                                   adjust_rule, selective_adjust, selective_adjust_shown, selective_adjust_exports,
                                   selective_adjust_candidates, selective_adjust_rule, filter, filter_shown,
                                   filter_exports, filter_candidates, filter_rule)
    SELECT :lineage, :seq, intent_norm,
           kept, support, adjust, adjust_shown, adjust_exports, adjust_candidates, adjust_rule, selective_adjust,
           selective_adjust_shown, selective_adjust_exports, selective_adjust_candidates, selective_adjust_rule,
           filter, filter_shown, filter_exports, filter_candidates, filter_rule
    FROM picks
    RETURNING kept
)
SELECT count(DISTINCT intent_norm) AS n_intents_seen,
       (SELECT count(*) FROM ins WHERE kept) AS n_intents,
       coalesce(sum(shown) FILTER (WHERE tool = 'adjust' AND intent_norm IS NOT NULL), 0) AS n_responses,
       coalesce(sum(shown) FILTER (WHERE tool = 'adjust'), 0) AS n_joined
FROM agg
