-- Take out of groundtruth_candidates what the requests of the temporary table er_requests(request_id) added to them,
-- before their events are deleted (an erasure, docs/domain.md#erasure): a fold with negative deltas. Only what the
-- folds counted goes, i.e. the events ingested up to :watermark (the folded watermark), counted by the fold's rules
-- (docs/domain.md#d4): one intent per request, its first ingested; every response one showing; the request's exports
-- (OR over duplicates) on each of its responses. Per-request rules only, so a request's contribution is its own and
-- subtracting it leaves what a full count over the other requests gives (tests/test_erasure_groundtruth.py).
-- A candidate left with no showing goes; last_shown cannot be subtracted: gt_unfolded.refresh marks the candidates
-- whose last showing may have been an erased one (groundtruth_unfold.py recomputes those from the remaining events).
WITH req AS (
    SELECT DISTINCT ON (i.request_id) i.request_id, i.intent_norm
    FROM intents i JOIN er_requests t ON t.request_id = i.request_id
    WHERE i.ingested_at <= :watermark
    ORDER BY i.request_id, i.ingested_at, i.event_id
),
exp AS (
    SELECT x.request_id,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'adjust'), false) AS ex_a,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'selective_adjust'), false) AS ex_s,
           coalesce(bool_or(x.exported) FILTER (WHERE x.tool = 'filter'), false) AS ex_f
    FROM tool_exports x JOIN er_requests t ON t.request_id = x.request_id
    WHERE x.ingested_at <= :watermark
    GROUP BY x.request_id
),
cand AS (
    SELECT q.intent_norm, v.tool, coalesce(v.output, 'null'::jsonb) AS output, p.arm, p.occurred_at,
           coalesce(v.ex, false) AS ex
    FROM responses p
    JOIN er_requests t ON t.request_id = p.request_id
    JOIN req q ON q.request_id = p.request_id  -- an orphan response was never counted
    LEFT JOIN exp e ON e.request_id = p.request_id
    CROSS JOIN LATERAL (VALUES ('adjust', p.adjust, e.ex_a), ('selective_adjust', p.selective_adjust, e.ex_s),
                               ('filter', p.filter, e.ex_f)) AS v(tool, output, ex)
    WHERE p.ingested_at <= :watermark
),
sums AS (  -- the candidate's key as the fold computes it (groundtruth_fold.sql)
    SELECT md5(intent_norm || chr(31) || tool || chr(31) || arm || chr(31) || output::text)::uuid AS key,
           intent_norm, tool, arm, output, count(*) AS shown, count(*) FILTER (WHERE ex) AS exports,
           max(occurred_at) AS last_shown
    FROM cand
    GROUP BY intent_norm, tool, arm, output
),
up AS (
    MERGE INTO groundtruth_candidates AS g
    USING sums AS s
    ON g.key = s.key
    WHEN MATCHED AND g.shown <= s.shown THEN DELETE
    WHEN MATCHED THEN UPDATE SET shown = g.shown - s.shown, exports = g.exports - s.exports
    RETURNING s.key, s.arm, s.intent_norm, s.tool, s.output, s.shown, s.exports,
              -- kept, and an erased showing was (or tied) its last one
              merge_action() = 'UPDATE' AND s.last_shown >= g.last_shown AS refresh
),
saved AS (
    INSERT INTO gt_unfolded (key, arm, intent_norm, tool, output, shown, exports, refresh)
    SELECT key, arm, intent_norm, tool, output, shown, exports, refresh FROM up
    RETURNING 1
),
-- the intents whose candidates changed, per arm: each lineage's next run re-picks them (docs/domain.md#d21)
changed AS (
    INSERT INTO groundtruth_fold_intents (fold_id, arm, intent_norm)
    SELECT DISTINCT :fold_id, arm, intent_norm FROM sums
    ON CONFLICT DO NOTHING
    RETURNING 1
)
SELECT (SELECT count(*) FROM req) AS n_requests,
       (SELECT coalesce(sum(shown), 0) FROM sums WHERE tool = 'adjust') AS n_responses,
       (SELECT count(*) FROM saved) AS n_candidates,
       (SELECT count(*) FROM changed) AS n_listed
