"""The SQL of a ground-truth run, assembled from ``sql/groundtruth_*.sql`` (docs/domain.md#ground-truth): the full
and the incremental pick, a night's changed-only pick, and the writes of versions. The placeholders in comment
brackets are filled in here, from one list of a version's columns and one order of the candidates."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Literal

from flywheel.contracts import TOOLS
from flywheel.db.datasets import OPEN_VERSION

SQL_DIR = Path(__file__).with_name("sql")


@cache
def sql(name: str) -> str:
    return (SQL_DIR / name).read_text()


Arms = Literal["teacher", "all"]
Mode = Literal["incremental", "full"]

_REQ_FAST = "SELECT request_id, intent_norm FROM intents WHERE ingested_at <= :watermark"
# The first ingested intent of each request: the rule the incremental fold applies, so both paths agree.
_REQ_FIRST = ("SELECT DISTINCT ON (request_id) request_id, intent_norm FROM intents WHERE ingested_at <= :watermark"
              " ORDER BY request_id, ingested_at, event_id")
ARM = " AND arm = :arm"


def changed_pick_sql() -> str:
    """The picks of the intents one day's fold changed, from their current versions and gt_changed
    (``groundtruth_pick_changed.sql``), and their writes (``groundtruth_write_changed.sql``): a lineage of the
    teacher arm whose last run came right before that fold."""
    def of_pick(part: str) -> str:  # the current version's pick of the row's tool
        return "CASE g.tool " + " ".join(f"WHEN '{t}' THEN c.{t}{part}" for t in TOOLS) + " END"

    decided, picks = [], []
    for t in TOOLS:
        f = f"FILTER (WHERE tool = '{t}')"
        decided.append(f"count(*) {f} > 0 AS {t}_touched, any_value(output) {f} AS {t}, max(shown) {f} AS "
                       f"{t}_shown, max(exports) {f} AS {t}_exports, max(d_candidates) {f} AS {t}_new, "
                       f"bool_or(exported) {f} AS {t}_exported")
        picks.append(f"CASE WHEN i.{t}_touched THEN i.{t} ELSE p.{t} END AS {t}, "
                     f"(CASE WHEN i.{t}_touched THEN i.{t}_shown ELSE p.{t}_shown END)::int AS {t}_shown, "
                     f"(CASE WHEN i.{t}_touched THEN i.{t}_exports ELSE p.{t}_exports END)::int AS {t}_exports, "
                     f"(coalesce(p.{t}_candidates, 0) + coalesce(i.{t}_new, 0))::int AS {t}_candidates, "
                     f"CASE WHEN coalesce(p.{t}_rule = 'export_rate', false) OR coalesce(i.{t}_exported, false)"
                     f" THEN 'export_rate' ELSE 'most_frequent' END AS {t}_rule")
    return (versions_sql("groundtruth_pick_changed.sql", rank=True).replace("/*PICK_OUTPUT*/", of_pick(""))
            .replace("/*PICK_SHOWN*/", of_pick("_shown")).replace("/*PICK_EXPORTS*/", of_pick("_exports"))
            .replace("/*DECIDED*/", ",\n           ".join(decided)).replace("/*PICKS*/", ",\n       ".join(picks))
            + versions_sql("groundtruth_write_changed.sql"))


def groundtruth_sql(*, mode: Mode = "full", arms: Arms = "teacher", dedupe_intents: bool = False,
                    repick: bool = False) -> str:
    """The run's one statement: the candidate aggregate (from the events or from the folded aggregates), the pick,
    then every pick stored as a version (``groundtruth_store.sql``). ``repick``: only the picks of the intents in
    gt_repick, as a query (a lineage's later incremental runs; ``groundtruth_repick.sql`` writes them)."""
    if mode == "full":
        head = sql("groundtruth_full.sql").replace("/*REQ*/", _REQ_FIRST if dedupe_intents else _REQ_FAST)
    else:
        head = sql("groundtruth_aggregates_arm.sql" if arms == "teacher" else "groundtruth_aggregates.sql").replace(
            "/*TOUCHED*/", " AND intent_norm IN (SELECT intent_norm FROM gt_repick)" if repick else "")
    head = head.replace("/*ARM*/", ARM if arms == "teacher" else "")
    pick = _rank_sql("groundtruth_pick.sql") + sql("groundtruth_pivot.sql")
    if repick:
        return "WITH " + head + pick.rstrip().rstrip(",") + "\nSELECT * FROM picks"
    return "WITH " + head + pick + versions_sql("groundtruth_store.sql")


# A version's columns (groundtruth_picks after its key), in the order groundtruth_pick.sql's `picks` names them.
PICK_COLUMNS = ("kept", "support", *(t + part for t in TOOLS
                                     for part in ("", "_shown", "_exports", "_candidates", "_rule")))


# The lineage's current version `p` of each intent of `i`: its latest, if open (0017). No index covers valid_to, so
# it is found by reading the primary key (lineage, intent_norm, valid_from) backwards; old_ctid closes it in place.
_CURRENT_VERSION = ("CROSS JOIN LATERAL (SELECT v.*, v.ctid AS old_ctid FROM groundtruth_picks v"
                    " WHERE v.lineage = :lineage AND v.intent_norm = i.intent_norm"
                    f" ORDER BY v.valid_from DESC LIMIT 1) p WHERE p.valid_to = {OPEN_VERSION}")


def versions_sql(name: str, *, rank: bool = False) -> str:
    """An SQL file that writes versions, its column lists, the open ``valid_to`` and the counts filled in."""
    body = _rank_sql(name) if rank else sql(name)
    new, old = _counted("n"), _counted("c")
    deltas = ", ".join(f"coalesce({new[k]}, 0) - coalesce({old[k]}, 0) AS d_{k}" for k in COUNTED)
    return (body.replace("/*CURRENT_VERSION*/", _CURRENT_VERSION)
            .replace("/*OLD_COLUMNS*/", ", ".join("c." + c for c in PICK_COLUMNS))
            .replace("/*NEW_COLUMNS*/", ", ".join("n." + c for c in PICK_COLUMNS))
            .replace("/*COLUMNS*/", ", ".join(PICK_COLUMNS)).replace("/*OPEN*/", str(OPEN_VERSION))
            .replace("/*COUNT_DELTAS*/", deltas)
            .replace("/*SUM_DELTAS*/", ", ".join(f"coalesce(sum(d_{k}), 0) AS d_{k}" for k in COUNTED)))


def _counted(v: str) -> dict[str, str]:
    """A run's counts, each as what one version ``v`` (an alias; NULL = none) adds: intents seen, intents kept,
    responses (support), and per tool the kept intents that use it."""
    return {"n_intents_seen": f"({v}.intent_norm IS NOT NULL)::int", "n_intents": f"{v}.kept::int",
            "n_responses": f"{v}.support",
            **{f"used_{t}": f"({v}.kept AND {v}.{t} IS NOT NULL)::int" for t in TOOLS}}


COUNTED = tuple(_counted("v"))  # also the names of groundtruth_lineages' count columns (0017)

# A run's counts from its versions, the open ones of its lineage: a full run, and the first run of an incremental
# lineage. A later incremental run adds to its lineage's counts what its versions changed (d_* of the writes).
COUNTS = ("SELECT " + ", ".join(f"coalesce(sum({e}), 0)::bigint AS {k}" for k, e in _counted("v").items())
          + f" FROM groundtruth_picks v WHERE v.lineage = :lineage AND v.valid_to = {OPEN_VERSION}")


def _rank_sql(name: str) -> str:
    """A pick's SQL with the candidates' order (``groundtruth_rank.sql``) filled in."""
    return sql(name).replace("/*RANK*/", sql("groundtruth_rank.sql").strip())
