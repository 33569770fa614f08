-- Every pick becomes a version of :lineage from run :seq on (a full run, or the first run of an incremental lineage).
-- Follows groundtruth_pick.sql; groundtruth.py fills in the column lists. The run's counts are read from its versions
-- afterwards (groundtruth_sql.COUNTS); `n_joined` (rows the intent join gave, one per tool shown) lets groundtruth.py
-- tell whether some request had several intents.
ins AS (
    INSERT INTO groundtruth_picks (lineage, valid_from, intent_norm, /*COLUMNS*/)
    SELECT :lineage, :seq, intent_norm, /*COLUMNS*/
    FROM picks
    RETURNING 1
)
SELECT coalesce(sum(shown) FILTER (WHERE tool = 'adjust'), 0) AS n_joined
FROM agg
