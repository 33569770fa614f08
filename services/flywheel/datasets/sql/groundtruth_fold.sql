-- Fold into groundtruth_candidates the requests touched by events ingested in (:since, :watermark]
-- (docs/domain.md#d20-incremental-ground-truth). The caller fills the temporary table gt_touched(request_id) first.
--
-- Each touched request is recomputed from the event tables up to :watermark under the same rules as the full run
-- (first-ingested intent, bool_or of its exports, every response one showing) and compared with what was already
-- counted (groundtruth_folded): a response not yet counted adds one showing (and its exports); one counted before
-- adds only the exports that arrived since. Nothing is ever taken back: the first intent of a request and a
-- response's outputs cannot change once folded, and an export flag can only turn true.
WITH req AS (
    SELECT DISTINCT ON (i.request_id) i.request_id, i.intent_norm
    FROM intents i JOIN gt_touched t ON t.request_id = i.request_id
    WHERE i.ingested_at <= :watermark
    ORDER BY i.request_id, i.ingested_at, i.event_id
),
exp AS (
    SELECT x.request_id,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'adjust'), false) AS ex_a,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'selective_adjust'), false) AS ex_s,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'filter'), false) AS ex_f
    FROM tool_exports x JOIN gt_touched t ON t.request_id = x.request_id
    WHERE x.ingested_at <= :watermark
    GROUP BY x.request_id
),
cur AS (
    SELECT p.event_id, p.arm, q.intent_norm, p.occurred_at, p.adjust, p.selective_adjust, p.filter,
           coalesce(e.ex_a, false) AS ex_a, coalesce(e.ex_s, false) AS ex_s, coalesce(e.ex_f, false) AS ex_f
    FROM responses p
    JOIN gt_touched t ON t.request_id = p.request_id
    JOIN req q ON q.request_id = p.request_id
    LEFT JOIN exp e ON e.request_id = p.request_id
    WHERE p.ingested_at <= :watermark
),
delta AS (
    SELECT c.*, f.event_id IS NULL AS is_new,
           coalesce(f.ex_adjust, false) AS was_a, coalesce(f.ex_selective_adjust, false) AS was_s,
           coalesce(f.ex_filter, false) AS was_f
    FROM cur c LEFT JOIN groundtruth_folded f ON f.event_id = c.event_id
    WHERE f.event_id IS NULL OR (c.ex_a AND NOT f.ex_adjust) OR (c.ex_s AND NOT f.ex_selective_adjust)
       OR (c.ex_f AND NOT f.ex_filter)
),
folded AS (
    INSERT INTO groundtruth_folded (event_id, ex_adjust, ex_selective_adjust, ex_filter)
    SELECT event_id, ex_a, ex_s, ex_f FROM delta
    ON CONFLICT (event_id) DO UPDATE SET ex_adjust = excluded.ex_adjust,
        ex_selective_adjust = excluded.ex_selective_adjust, ex_filter = excluded.ex_filter
    RETURNING 1
),
cand AS (
    SELECT d.intent_norm, v.tool, coalesce(v.output, 'null'::jsonb) AS output, d.arm,
           d.is_new::int AS shown, (v.ex AND NOT v.was)::int AS exports, d.occurred_at
    FROM delta d
    CROSS JOIN LATERAL (VALUES ('adjust', d.adjust, d.ex_a, d.was_a),
                               ('selective_adjust', d.selective_adjust, d.ex_s, d.was_s),
                               ('filter', d.filter, d.ex_f, d.was_f)) AS v(tool, output, ex, was)
    WHERE d.is_new OR (v.ex AND NOT v.was)
),
sums AS (
    SELECT md5(intent_norm || chr(31) || tool || chr(31) || arm || chr(31) || output::text)::uuid AS key,
           intent_norm, tool, arm, output, sum(shown) AS shown, sum(exports) AS exports,
           -- a row that only adds a late export keeps the candidate's last_shown (its showing was counted before)
           coalesce(max(occurred_at) FILTER (WHERE shown > 0), '-infinity') AS last_shown
    FROM cand
    GROUP BY intent_norm, tool, arm, output
),
up AS (
    INSERT INTO groundtruth_candidates AS g (key, intent_norm, tool, arm, output, shown, exports, last_shown)
    SELECT key, intent_norm, tool, arm, output, shown, exports, last_shown FROM sums
    ON CONFLICT (key) DO UPDATE SET shown = g.shown + excluded.shown, exports = g.exports + excluded.exports,
        last_shown = greatest(g.last_shown, excluded.last_shown)
    RETURNING 1
)
SELECT (SELECT count(*) FROM gt_touched) AS n_requests,
       (SELECT count(*) FROM folded) AS n_responses,
       (SELECT count(*) FROM up) AS n_candidates
