-- A lineage's picks after one day's fold (docs/domain.md#d21-versioned-ground-truth-rows), when its last run saw the
-- aggregates exactly as they stood before that fold: gt_changed holds the candidates the fold changed, with their new
-- counters. Counters only grow (docs/domain.md#d20-incremental-ground-truth), so a candidate the fold did not touch
-- still ranks below the current pick. For each touched (intent, tool), with `best` the best changed candidate:
--   * `best` ranks above the current pick as it was (or there is none: a new intent): `best` is the new pick;
--   * it ranks below, and the current pick was not touched: the current pick stays;
--   * otherwise (the current pick was touched and fell in rank, or the two tie on the counters and only last_shown,
--     which the version does not keep, would decide): that (intent, tool) is ranked again from all its candidates.
-- Support, candidate counts, the rule and kept follow from the current version plus what the fold added. Same picks
-- as groundtruth_pick.sql over all candidates (tests/test_groundtruth_incremental.py). Parameters: :arm, :lineage.
-- groundtruth.py fills in the comment-bracketed placeholders.
WITH grp AS (  -- each touched (intent, tool): its best changed candidate, what the fold added, and the outputs of
               -- its changed candidates when there are several (with one, it is `best`'s)
    SELECT DISTINCT ON (intent_norm, tool)
           intent_norm, tool, output, shown, exports,
           sum(d_shown) OVER w AS d_support,
           count(*) FILTER (WHERE inserted) OVER w AS d_candidates,
           bool_or(output IS NOT NULL AND exports > 0) OVER w AS exported,
           CASE WHEN count(*) OVER w > 1 THEN array_agg(raw) OVER w END AS changed_outputs
    FROM (SELECT intent_norm, tool, nullif(output, 'null'::jsonb) AS output, output AS raw, shown, exports,
                 last_shown, d_shown, inserted
          FROM gt_changed
          WHERE arm = :arm) c
    WINDOW w AS (PARTITION BY intent_norm, tool)
    ORDER BY intent_norm, tool, /*RANK*/
),
cur AS (  -- the lineage's current version of each touched intent: its latest, if open (0017)
    SELECT p.*
    FROM (SELECT DISTINCT intent_norm FROM grp) i
    /*CURRENT_VERSION*/
),
pick AS (  -- with the current pick
    SELECT g.*, c.intent_norm IS NOT NULL AS has_pick, /*PICK_OUTPUT*/ AS pick_output,
           /*PICK_SHOWN*/ AS pick_shown, /*PICK_EXPORTS*/ AS pick_exports
    FROM grp g
    LEFT JOIN cur c ON c.intent_norm = g.intent_norm
),
state AS (  -- whether the fold touched the current pick; the counters' part of the order (groundtruth_rank.sql) of
            -- `best` now (b*) and of the current pick as its version recorded it (p*)
    SELECT g.*, g.has_pick AND CASE WHEN g.changed_outputs IS NULL THEN g.output IS NOT DISTINCT FROM g.pick_output
                                    ELSE coalesce(g.pick_output, 'null'::jsonb) = ANY (g.changed_outputs) END
                AS pick_touched,
           g.output IS NOT NULL AND g.exports > 0 AS b1,
           CASE WHEN g.output IS NOT NULL THEN g.exports::float8 / g.shown ELSE 0 END AS b2,
           CASE WHEN g.output IS NOT NULL THEN g.exports ELSE 0 END AS b3,
           g.pick_output IS NOT NULL AND g.pick_exports > 0 AS p1,
           CASE WHEN g.pick_output IS NOT NULL THEN g.pick_exports::float8 / g.pick_shown ELSE 0 END AS p2,
           CASE WHEN g.pick_output IS NOT NULL THEN g.pick_exports ELSE 0 END AS p3
    FROM pick g
),
cmp AS (  -- how: 1 = `best`, 0 = the current pick, -1 = rank again (keys compared column by column: no NULLs)
    SELECT intent_norm, tool, output, shown, exports, d_support, d_candidates, exported, pick_output, pick_shown,
           pick_exports,
           CASE WHEN NOT has_pick OR (b1, b2, b3, shown) > (p1, p2, p3, pick_shown) THEN 1
                WHEN (b1, b2, b3, shown) < (p1, p2, p3, pick_shown) AND NOT pick_touched THEN 0
                ELSE -1 END AS how
    FROM state
),
ranked AS (  -- the (intent, tool)s ranked again, from all their candidates
    SELECT DISTINCT ON (intent_norm, tool) intent_norm, tool, output, shown, exports
    FROM (SELECT k.intent_norm, k.tool, nullif(k.output, 'null'::jsonb) AS output, k.shown, k.exports, k.last_shown
          FROM cmp m
          JOIN groundtruth_candidates k ON k.intent_norm = m.intent_norm AND k.tool = m.tool AND k.arm = :arm
          WHERE m.how = -1) a
    ORDER BY intent_norm, tool, /*RANK*/
),
decided AS (
    SELECT m.intent_norm, m.tool, m.d_support, m.d_candidates, m.exported, m.how,
           CASE m.how WHEN 1 THEN m.output WHEN 0 THEN m.pick_output ELSE r.output END AS output,
           CASE m.how WHEN 1 THEN m.shown WHEN 0 THEN m.pick_shown ELSE r.shown END AS shown,
           CASE m.how WHEN 1 THEN m.exports WHEN 0 THEN m.pick_exports ELSE r.exports END AS exports
    FROM cmp m
    LEFT JOIN ranked r ON m.how = -1 AND r.intent_norm = m.intent_norm AND r.tool = m.tool
),
per_intent AS (  -- a row per touched intent, its touched tools side by side
    SELECT intent_norm, max(d_support) AS d_support, bool_or(exported) AS exported, /*DECIDED*/
    FROM decided
    GROUP BY intent_norm
),
-- a tool the fold did not touch keeps its current pick; support and kept are the intent's
fresh AS (
    SELECT i.intent_norm, coalesce(p.kept, false) OR i.exported AS kept,
           (coalesce(p.support, 0) + i.d_support)::int AS support,
           /*PICKS*/
    FROM per_intent i
    LEFT JOIN cur p ON p.intent_norm = i.intent_norm
),
-- with the version it replaces (old_ctid; same: nothing changed, the version stays) and what the run's counts gain
-- (d_*); groundtruth_write_changed.sql follows in the same statement
picked AS (
    SELECT n.*, c.old_ctid,
           c.intent_norm IS NOT NULL AND (/*OLD_COLUMNS*/) IS NOT DISTINCT FROM (/*NEW_COLUMNS*/) AS same,
           /*COUNT_DELTAS*/
    FROM fresh n
    LEFT JOIN cur c ON c.intent_norm = n.intent_norm
),
