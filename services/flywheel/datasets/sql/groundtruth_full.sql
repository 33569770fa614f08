-- Ground truth from scratch (docs/domain.md#ground-truth): the candidate aggregate `agg` over every response ingested
-- up to :watermark; groundtruth_pick.sql follows it in the same statement. Parameters: :watermark, :arm.
--
--  * every response of the included arms is one showing (docs/domain.md#d4-showings-and-duplicate-events);
--  * one intent per request, the first ingested. The fast path joins intents directly (a per-request aggregate made
--    the 10M-event run 20-30 % slower per event); the join is a LEFT JOIN so that each response yields at least one
--    row and groundtruth.py can tell "some request has several intents" (joined rows > responses) without an
--    orphan cancelling a duplicate out; it then reruns with /*REQ*/ = the first intent per request;
--  * JSON null stored as a value ('null'::jsonb) is the same candidate as SQL NULL: "tool not used";
--  * exported = bool_or over duplicate tool_exported events of the same request and tool (pivoted per request).
-- Orphan responses (no intent yet) stay in `agg` under a NULL intent_norm: the pick ignores them, the check counts
-- them.
req AS (
    /*REQ*/
),
resp AS (
    SELECT r.request_id, r.occurred_at, r.adjust, r.selective_adjust, r.filter
    FROM responses r
    WHERE r.ingested_at <= :watermark /*ARM*/
),
exp AS (
    SELECT request_id,
           coalesce(bool_or(exported) FILTER (WHERE tool = 'adjust'), false) AS ex_a,
           coalesce(bool_or(exported) FILTER (WHERE tool = 'selective_adjust'), false) AS ex_s,
           coalesce(bool_or(exported) FILTER (WHERE tool = 'filter'), false) AS ex_f
    FROM tool_exports
    WHERE ingested_at <= :watermark
    GROUP BY request_id
),
cand AS (
    SELECT q.intent_norm, v.tool, nullif(v.output, 'null'::jsonb) AS output, p.occurred_at,
           coalesce(v.exported, false) AS exported
    FROM resp p
    LEFT JOIN req q ON q.request_id = p.request_id
    LEFT JOIN exp e ON e.request_id = p.request_id
    CROSS JOIN LATERAL (VALUES ('adjust', p.adjust, e.ex_a), ('selective_adjust', p.selective_adjust, e.ex_s),
                               ('filter', p.filter, e.ex_f)) AS v(tool, output, exported)
),
agg AS (
    SELECT intent_norm, tool, output,
           count(*) AS shown,
           count(*) FILTER (WHERE exported) AS exports,
           max(occurred_at) AS last_shown
    FROM cand
    GROUP BY intent_norm, tool, output
),
