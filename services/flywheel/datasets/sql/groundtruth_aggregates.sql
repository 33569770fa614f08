-- Ground truth from the folded aggregates (docs/domain.md#d20-incremental-ground-truth): `agg` summed over the
-- included arms; groundtruth_pick.sql follows it in the same statement. Parameter: :arm (unless all arms).
agg AS (
    SELECT intent_norm, tool, nullif(output, 'null'::jsonb) AS output,
           sum(shown) AS shown, sum(exports) AS exports, max(last_shown) AS last_shown
    FROM groundtruth_candidates
    WHERE true /*ARM*/
    GROUP BY intent_norm, tool, output
),
