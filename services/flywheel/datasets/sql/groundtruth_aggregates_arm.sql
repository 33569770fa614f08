-- Ground truth from the folded aggregates of one arm (docs/domain.md#d20-incremental-ground-truth): each candidate
-- row of an arm is already one (intent_norm, tool, output), so `agg` is a filter, not a GROUP BY. Parameter: :arm.
-- /*TOUCHED*/ as in groundtruth_aggregates.sql.
agg AS (
    SELECT intent_norm, tool, nullif(output, 'null'::jsonb) AS output, shown, exports, last_shown
    FROM groundtruth_candidates
    WHERE arm = :arm /*TOUCHED*/
),
