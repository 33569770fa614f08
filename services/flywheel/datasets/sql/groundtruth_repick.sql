-- An incremental run after the first one of its lineage (docs/domain.md#d21-versioned-ground-truth-rows): gt_picked
-- holds the picks of the intents whose candidates changed since the lineage's last run (gt_repick); an intent whose
-- picks differ from the lineage's current version closes that version at :seq and opens a new one.
WITH cur AS (
    SELECT p.*
    FROM groundtruth_picks p
    WHERE p.lineage = :lineage AND p.valid_to = 9223372036854775807
      AND p.intent_norm IN (SELECT intent_norm FROM gt_repick)
),
diff AS (
    SELECT c.intent_norm AS old_intent, c.valid_from AS old_from, n.*
    FROM cur c
    FULL JOIN gt_picked n ON n.intent_norm = c.intent_norm
    WHERE c.intent_norm IS NULL OR n.intent_norm IS NULL
       OR (
           c.kept, c.support, c.adjust, c.adjust_shown, c.adjust_exports, c.adjust_candidates, c.adjust_rule,
           c.selective_adjust, c.selective_adjust_shown, c.selective_adjust_exports, c.selective_adjust_candidates,
           c.selective_adjust_rule, c.filter, c.filter_shown, c.filter_exports, c.filter_candidates, c.filter_rule)
          IS DISTINCT FROM
           (n.kept, n.support, n.adjust, n.adjust_shown, n.adjust_exports, n.adjust_candidates, n.adjust_rule,
           n.selective_adjust, n.selective_adjust_shown, n.selective_adjust_exports, n.selective_adjust_candidates,
           n.selective_adjust_rule, n.filter, n.filter_shown, n.filter_exports, n.filter_candidates, n.filter_rule)
),
closed AS (
    UPDATE groundtruth_picks p SET valid_to = :seq
    FROM diff d
    WHERE d.old_from IS NOT NULL AND p.lineage = :lineage AND p.intent_norm = d.old_intent
      AND p.valid_from = d.old_from
    RETURNING 1
),
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
    FROM diff
    WHERE intent_norm IS NOT NULL
    RETURNING 1
)
SELECT (SELECT count(*) FROM gt_repick) AS n_touched, (SELECT count(*) FROM closed) AS n_closed,
       (SELECT count(*) FROM ins) AS n_written
