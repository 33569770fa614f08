-- Fold into groundtruth_candidates the requests touched by events ingested in (:since, :watermark]
-- (docs/domain.md#d20-incremental-ground-truth). The caller fills the temporary table gt_touched(request_id, lo, hi)
-- first; on a night the SPAN placeholders bound each request's events to its span of occurred_at [lo, hi], so the
-- probes read only the partitions of that span (groundtruth_fold.py).
--
-- Each touched request is counted twice under the same rules as the full run (first-ingested intent, bool_or of its
-- exports, every response one showing): with its events ingested up to :watermark, and with those ingested up to
-- :since (what the last fold counted), and the difference is added. A response counted before adds only the exports
-- that turned true since; a new one adds its showing and its exports. Nothing is ever taken back: the first intent of
-- a request and a response's outputs cannot change once counted, and an export flag can only turn true.
WITH req AS (
    SELECT DISTINCT ON (i.request_id) i.request_id, i.intent_norm, i.ingested_at
    FROM intents i JOIN gt_touched t ON t.request_id = i.request_id /*SPAN:i*/
    WHERE i.ingested_at <= :watermark
    ORDER BY i.request_id, i.ingested_at, i.event_id
),
exp AS (
    SELECT x.request_id,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'adjust'), false) AS ex_a,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'selective_adjust'), false) AS ex_s,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'filter'), false) AS ex_f,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'adjust' AND x.ingested_at <= :since), false) AS was_a,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'selective_adjust' AND x.ingested_at <= :since),
                    false) AS was_s,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'filter' AND x.ingested_at <= :since), false) AS was_f
    FROM tool_exports x JOIN gt_touched t ON t.request_id = x.request_id /*SPAN:x*/
    WHERE x.ingested_at <= :watermark
    GROUP BY x.request_id
),
delta AS (
    SELECT p.arm, q.intent_norm, p.occurred_at, p.adjust, p.selective_adjust, p.filter,
           -- counted by the last fold: the response and its (first) intent had both arrived by :since
           (p.ingested_at <= :since AND q.ingested_at <= :since) AS was_counted,
           coalesce(e.ex_a, false) AS ex_a, coalesce(e.ex_s, false) AS ex_s, coalesce(e.ex_f, false) AS ex_f,
           coalesce(e.was_a, false) AS was_a, coalesce(e.was_s, false) AS was_s, coalesce(e.was_f, false) AS was_f
    FROM responses p
    JOIN gt_touched t ON t.request_id = p.request_id /*SPAN:p*/
    JOIN req q ON q.request_id = p.request_id
    LEFT JOIN exp e ON e.request_id = p.request_id
    WHERE p.ingested_at <= :watermark
),
cand AS (
    SELECT d.intent_norm, v.tool, coalesce(v.output, 'null'::jsonb) AS output, d.arm,
           (NOT d.was_counted)::int AS shown, (v.ex AND NOT (d.was_counted AND v.was))::int AS exports,
           d.occurred_at
    FROM delta d
    CROSS JOIN LATERAL (VALUES ('adjust', d.adjust, d.ex_a, d.was_a),
                               ('selective_adjust', d.selective_adjust, d.ex_s, d.was_s),
                               ('filter', d.filter, d.ex_f, d.was_f)) AS v(tool, output, ex, was)
    WHERE NOT d.was_counted OR (v.ex AND NOT v.was)
),
sums AS (  -- grouped by the key: one (intent, tool, arm, output) each, and a uuid hashes faster than the four
    SELECT key, any_value(intent_norm) AS intent_norm, any_value(tool) AS tool, any_value(arm) AS arm,
           any_value(output) AS output, sum(shown) AS shown, sum(exports) AS exports,
           -- a row that only adds a late export keeps the candidate's last_shown (its showing was counted before)
           coalesce(max(occurred_at) FILTER (WHERE shown > 0), '-infinity') AS last_shown
    FROM (SELECT md5(intent_norm || chr(31) || tool || chr(31) || arm || chr(31) || output::text)::uuid AS key, *
          FROM cand) c
    GROUP BY key
),
up AS (
    MERGE INTO groundtruth_candidates AS g
    USING (SELECT * FROM sums ORDER BY intent_norm, tool) AS s  -- an intent's new candidates side by side: a re-pick
    ON g.key = s.key                                            -- then reads few pages
    WHEN MATCHED THEN UPDATE SET shown = g.shown + s.shown, exports = g.exports + s.exports,
        last_shown = greatest(g.last_shown, s.last_shown)
    WHEN NOT MATCHED THEN INSERT (key, intent_norm, tool, arm, output, shown, exports, last_shown)
        VALUES (s.key, s.intent_norm, s.tool, s.arm, s.output, s.shown, s.exports, s.last_shown)
    RETURNING s.arm, s.intent_norm, s.tool, s.output, g.shown, g.exports, g.last_shown, s.shown AS d_shown,
              merge_action() = 'INSERT' AS inserted
),
-- groundtruth_fold.py puts `saved` here for a day's fold: the new state of every candidate it changed, for the pick
-- of the runs that follow it (sql/groundtruth_pick_changed.sql).
/*SAVE*/
-- which intents this fold changed, per arm: a lineage that misses this fold's gt_changed re-picks those
-- (docs/domain.md#d21); :list is false when no lineage can (groundtruth_fold.py)
changed AS (
    INSERT INTO groundtruth_fold_intents (fold_id, arm, intent_norm)
    SELECT DISTINCT :fold_id, arm, intent_norm FROM sums WHERE :list
    RETURNING 1
)
SELECT (SELECT count(*) FROM gt_touched) AS n_requests,
       (SELECT count(*) FROM delta WHERE NOT was_counted OR (ex_a AND NOT was_a) OR (ex_s AND NOT was_s)
           OR (ex_f AND NOT was_f)) AS n_responses,
       (SELECT count(*) FROM up) AS n_candidates,
       (SELECT count(*) FROM changed) AS n_listed
