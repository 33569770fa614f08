-- An incremental run after the first one of its lineage (docs/domain.md#d21-versioned-ground-truth-rows): gt_picked
-- holds the picks of the intents whose candidates changed since the lineage's last run (gt_repick); an intent whose
-- picks differ from the lineage's current version (its latest, if open) closes that version at :seq and opens a new
-- one; d_* is what the run's counts gain. The placeholders in comment brackets are filled in by groundtruth.py
-- (column lists, the current version, the counts; groundtruth_sql.py).
WITH cur AS (
    SELECT p.*
    FROM gt_repick i
    /*CURRENT_VERSION*/
),
diff AS (
    SELECT c.intent_norm AS old_intent, c.old_ctid, n.*, /*COUNT_DELTAS*/
    FROM cur c
    FULL JOIN gt_picked n ON n.intent_norm = c.intent_norm
    WHERE c.intent_norm IS NULL OR n.intent_norm IS NULL
       OR (/*OLD_COLUMNS*/) IS DISTINCT FROM (/*NEW_COLUMNS*/)
),
closed AS (
    UPDATE groundtruth_picks p SET valid_to = :seq
    FROM diff d
    WHERE d.old_ctid IS NOT NULL AND p.ctid = d.old_ctid AND p.lineage = :lineage AND p.intent_norm = d.old_intent
    RETURNING 1
),
ins AS (
    INSERT INTO groundtruth_picks (lineage, valid_from, intent_norm, /*COLUMNS*/)
    SELECT :lineage, :seq, intent_norm, /*COLUMNS*/
    FROM diff
    WHERE intent_norm IS NOT NULL AND (SELECT count(*) FROM closed) >= 0  -- after the close: one open version
    RETURNING 1
)
SELECT (SELECT count(*) FROM gt_repick) AS n_touched, (SELECT count(*) FROM closed) AS n_closed,
       (SELECT count(*) FROM ins) AS n_written, d.*
FROM (SELECT /*SUM_DELTAS*/ FROM diff) d
