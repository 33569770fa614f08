-- Every pick becomes a version of :lineage from run :seq on (a full run, or the first run of an incremental lineage);
-- the counts come from `agg`. Follows groundtruth_pick.sql; groundtruth.py fills in the column lists.
ins AS (
    INSERT INTO groundtruth_picks (lineage, valid_from, intent_norm, /*COLUMNS*/)
    SELECT :lineage, :seq, intent_norm, /*COLUMNS*/
    FROM picks
    RETURNING kept
)
SELECT count(DISTINCT intent_norm) AS n_intents_seen,
       (SELECT count(*) FROM ins WHERE kept) AS n_intents,
       coalesce(sum(shown) FILTER (WHERE tool = 'adjust' AND intent_norm IS NOT NULL), 0) AS n_responses,
       coalesce(sum(shown) FILTER (WHERE tool = 'adjust'), 0) AS n_joined
FROM agg
