-- The order of a tool's candidates (docs/domain.md#ground-truth), best first, over (output, shown, exports,
-- last_shown): groundtruth.py puts it where a pick's ORDER BY says /*RANK*/ after (intent_norm, tool).
-- An exported, used candidate always beats the rest; among them: rate, exports, shown, most recent.
(output IS NOT NULL AND exports > 0) DESC,
CASE WHEN output IS NOT NULL THEN exports::float8 / shown ELSE 0 END DESC,
CASE WHEN output IS NOT NULL THEN exports ELSE 0 END DESC,
-- fallback (no used candidate of this tool was exported): the most frequent output, then most recent.
shown DESC,
last_shown DESC,
output::text  -- total order, so the pick never depends on the plan
