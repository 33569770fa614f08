"""Monthly partitions of the event tables (docs/domain.md#partitions-and-retention), created ahead by the platform.

Migration 0024 partitions ``projects``, ``intents``, ``responses``, ``tool_exports`` and ``project_exports`` by
``occurred_at``: one partition per UTC month (``<table>_pYYYY_MM``) and a DEFAULT partition (``<table>_default``)
that takes any event whose month has none yet, so ingest never refuses an event for its date.
:func:`ensure_partitions` creates the coming months and gives every month found in a default partition its own
partition, moving those rows there. It never uses ``CREATE TABLE ... PARTITION OF`` (an ACCESS EXCLUSIVE lock on the
parent, which would stop ingest and every reader): a standalone table is filled and then ATTACHed, which locks the
parent in SHARE UPDATE EXCLUSIVE mode only (ingest goes on) and the default partition while its rows move.

Every function runs in the caller's transaction (the caller commits).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.settings import Settings

log = logging.getLogger(__name__)

EVENT_TABLES = ("projects", "intents", "responses", "tool_exports", "project_exports")
AHEAD_MONTHS = 3
_NAME = re.compile(rf"^({'|'.join(EVENT_TABLES)})_(p\d{{4}}_\d{{2}}|default)$")
_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


def is_partition_name(name: str) -> bool:
    """A name this module (or 0024) gives a partition: Alembic's comparison leaves those tables alone."""
    return bool(_NAME.match(name))


@dataclass(frozen=True)
class Partition:
    table: str
    name: str
    lower: datetime | None  # None: the default partition
    upper: datetime | None
    rows: int  # the planner's estimate (0 before the first ANALYZE)
    bytes: int  # table, indexes and TOAST

    @property
    def is_default(self) -> bool:
        return self.lower is None

    def range_text(self) -> str:
        if self.lower is None or self.upper is None:
            return "DEFAULT"
        return f"[{self.lower:%Y-%m-%d}, {self.upper:%Y-%m-%d})"


@dataclass
class Ensured:
    created: list[str] = field(default_factory=list)  # partitions created
    moved: dict[str, int] = field(default_factory=dict)  # partition -> rows moved into it from the default one


def month_start(ts: datetime) -> datetime:
    ts = ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)
    return datetime(ts.year, ts.month, 1, tzinfo=UTC)


def add_months(month: datetime, n: int) -> datetime:
    k = month.year * 12 + month.month - 1 + n
    return datetime(k // 12, k % 12 + 1, 1, tzinfo=UTC)


def partitioned_tables(conn: Any) -> list[str]:
    """The event tables that are partitioned (none before 0024)."""
    return [r[0] for r in conn.execute(text(
        "SELECT c.relname FROM pg_class c WHERE c.relkind = 'p' AND c.relname = ANY(:t)"
        " AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname"), {"t": list(EVENT_TABLES)})]


def list_partitions(conn: Any, *, tables: tuple[str, ...] = EVENT_TABLES) -> list[Partition]:
    """Every partition of ``tables``: its range, estimated rows and size, by table then range (default last)."""
    out = []
    for parent, name, bound, rows, size in conn.execute(text(
            "SELECT p.relname, c.relname, pg_get_expr(c.relpartbound, c.oid), c.reltuples,"
            " pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = ANY(:t)"
            " AND p.relnamespace = current_schema()::regnamespace"), {"t": list(tables)}):
        m = _BOUND.search(bound or "")
        lower = datetime.fromisoformat(m.group(1)) if m else None
        upper = datetime.fromisoformat(m.group(2)) if m else None
        out.append(Partition(table=parent, name=name, lower=lower, upper=upper, rows=max(int(rows), 0),
                             bytes=int(size)))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(out, key=lambda p: (p.table, p.lower or far))


def ensure_partitions(conn: Any, *, now: datetime, ahead_months: int = AHEAD_MONTHS) -> Ensured:
    """Create the partitions of the months from ``now``'s to ``ahead_months`` later for every partitioned event table,
    and one for every month that has rows in a default partition (rows move there). Idempotent; serialized."""
    xact_lock(conn, LockNamespace.PARTITIONS)
    done = Ensured()
    first = month_start(now)
    ahead = {add_months(first, k) for k in range(max(ahead_months, 0) + 1)}
    for table in partitioned_tables(conn):
        parts = list_partitions(conn, tables=(table,))
        have = {month_start(p.lower) for p in parts if p.lower is not None}
        default = next((p.name for p in parts if p.is_default), None)
        stray = set() if default is None else {month_start(r[0]) for r in conn.execute(text(
            # datetime cannot hold the years Postgres can: such rows stay in the default partition
            f"SELECT DISTINCT date_trunc('month', occurred_at, 'UTC') FROM {default}"
            " WHERE occurred_at >= '0001-02-01 00:00+00' AND occurred_at < '9999-12-01 00:00+00'"))}
        for month in sorted((ahead | stray) - have):
            # Always through the default partition: an event of that month may land there until the ATTACH.
            name = _attach_month(conn, table, month, default=default, done=done)
            done.created.append(name)
    if done.created:
        log.info("partitions created: %s; rows moved from default: %s", ", ".join(done.created), done.moved or "none")
    return done


def _attach_month(conn: Any, table: str, month: datetime, *, default: str | None, done: Ensured) -> str:
    """A month's partition: a standalone table (with the default partition's rows of that month moved in), then
    ATTACHed. The check constraint lets ATTACH skip scanning the moved rows."""
    name = f"{table}_p{month:%Y_%m}"
    lo, hi = _literal(month), _literal(add_months(month, 1))
    conn.execute(text(f"CREATE TABLE {name} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
                      " INCLUDING STORAGE)"))
    moved = 0
    if default is not None:
        cols = ", ".join(_columns(conn, table))
        # Locked first: no event of that month may reach the default partition between the move and the ATTACH.
        conn.execute(text(f"LOCK TABLE {default} IN ACCESS EXCLUSIVE MODE"))
        moved = conn.execute(text(
            f"WITH m AS (DELETE FROM {default} WHERE occurred_at >= {lo} AND occurred_at < {hi} RETURNING {cols})"
            f" INSERT INTO {name} ({cols}) SELECT {cols} FROM m")).rowcount
        if moved:
            done.moved[name] = moved
    check = f"{name}_range"
    if moved:
        conn.execute(text(f"ALTER TABLE {name} ADD CONSTRAINT {check} CHECK (occurred_at IS NOT NULL"
                          f" AND occurred_at >= {lo} AND occurred_at < {hi})"))
    conn.execute(text(f"ALTER TABLE {table} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})"))
    if moved:
        conn.execute(text(f"ALTER TABLE {name} DROP CONSTRAINT {check}"))
        conn.execute(text(f"ANALYZE {name}"))
    return name


def _literal(ts: datetime) -> str:
    return f"'{ts.astimezone(UTC):%Y-%m-%d %H:%M:%S}+00'"


def _columns(conn: Any, table: str) -> list[str]:
    return [r[0] for r in conn.execute(text(
        "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass) AND attnum > 0"
        " AND NOT attisdropped ORDER BY attnum"), {"t": table})]


# The direct ingest path relies on the primary key (event_id, occurred_at): an event_id stored again under another
# occurred_at lands in another partition unseen. This check, run each night, finds them (docs/domain.md).
_TWICE = ("SELECT count(*) FROM {t} n WHERE n.ingested_at > :since AND EXISTS (SELECT 1 FROM {t} o"
          " WHERE o.event_id = n.event_id AND o.occurred_at <> n.occurred_at)")


def event_ids_stored_twice(conn: Any, *, since: datetime) -> dict[str, int]:
    """Per event table, the rows ingested after ``since`` whose event_id is also stored under another occurred_at
    (tables with none are left out)."""
    out = {}
    for table in partitioned_tables(conn):
        n = conn.execute(text(_TWICE.format(t=table)), {"since": since}).scalar_one()
        if n:
            out[table] = int(n)
    return out


def analyze_parents(conn: Any) -> None:
    """Statistics of the partitioned tables themselves, which the planner uses for a join over all their partitions:
    autovacuum analyzes partitions only. ``ANALYZE ONLY`` (Postgres 18+) samples the parent without analyzing every
    partition again."""
    only = "ONLY " if int(conn.execute(text("SHOW server_version_num")).scalar_one()) >= 180000 else ""
    for table in partitioned_tables(conn):
        conn.execute(text(f"ANALYZE {only}{table}"))


def nightly_partitions(settings: Settings, *, airflow_run_id: str | None = None, now: datetime | None = None,
                       lookback: timedelta = timedelta(days=2)) -> dict[str, Any]:
    """The nightly DAG's first task: the partitions of the coming months (and of months found in a default
    partition), the check for event_ids stored twice among the last ``lookback`` of arrivals, and the partitioned
    tables' own statistics."""
    from flywheel.db.engine import owned_engine

    at = now or datetime.now(UTC)
    with owned_engine(settings) as eng, eng.begin() as conn:
        done = ensure_partitions(conn, now=at, ahead_months=AHEAD_MONTHS)
        twice = event_ids_stored_twice(conn, since=at - lookback)
        analyze_parents(conn)
    if twice:
        log.warning("event_ids stored twice under different occurred_at (ingested in the last %s): %s", lookback,
                    twice)
    return {"created": done.created, "moved": done.moved, "event_ids_stored_twice": twice,
            "airflow_run_id": airflow_run_id}
