-- Ground truth from the folded aggregates of every arm (docs/domain.md#d20-incremental-ground-truth): `agg` summed
-- over the arms; groundtruth_pick.sql follows it in the same statement (one arm: groundtruth_aggregates_arm.sql).
-- /*TOUCHED*/ limits `agg` to the intents of the temporary table gt_repick (a lineage's later runs re-pick only the
-- intents changed since, docs/domain.md#d21-versioned-ground-truth-rows); the first run of a lineage reads all.
agg AS (
    SELECT intent_norm, tool, nullif(output, 'null'::jsonb) AS output,
           sum(shown) AS shown, sum(exports) AS exports, max(last_shown) AS last_shown
    FROM groundtruth_candidates
    WHERE true /*TOUCHED*/
    GROUP BY intent_norm, tool, output
),
