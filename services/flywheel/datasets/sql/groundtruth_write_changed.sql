-- The writes of a night's picks (after groundtruth_pick_changed.sql, docs/domain.md#d21-versioned-ground-truth-rows):
-- `picked` holds the new picks of the touched intents, each with the current version it replaces (old_ctid, read in
-- this statement) and whether they equal it (same). A changed intent closes its version at :seq (in place: no index
-- covers valid_to) and opens a new one, after the close (`ins` reads `closed`), so a lineage never has two open
-- versions of an intent.
-- groundtruth.py fills in the comment-bracketed placeholders.
closed AS (
    UPDATE groundtruth_picks p SET valid_to = :seq
    FROM picked n
    WHERE NOT n.same AND p.ctid = n.old_ctid AND p.lineage = :lineage AND p.intent_norm = n.intent_norm
    RETURNING 1
),
ins AS (
    INSERT INTO groundtruth_picks (lineage, valid_from, intent_norm, /*COLUMNS*/)
    SELECT :lineage, :seq, intent_norm, /*COLUMNS*/
    FROM picked
    WHERE NOT same AND (SELECT count(*) FROM closed) >= 0
    RETURNING 1
)
SELECT (SELECT count(*) FROM picked) AS n_touched, (SELECT count(*) FROM closed) AS n_closed,
       (SELECT count(*) FROM ins) AS n_written, d.*
FROM (SELECT /*SUM_DELTAS*/ FROM picked) d
