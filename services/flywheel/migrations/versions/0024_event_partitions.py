"""event partitions: the five event tables partitioned by month of occurred_at; retention_drops (issue 31)

* ``projects``, ``intents``, ``responses``, ``tool_exports`` and ``project_exports`` become ``PARTITION BY RANGE
  (occurred_at)``: one partition per UTC month that holds rows (``<table>_pYYYY_MM``) and a DEFAULT partition
  (``<table>_default``) so no event can fail ingest for its date. The primary key must hold the partition key:
  ``(event_id, occurred_at)`` (docs/domain.md#partitions-and-retention says what catches an event_id reused with
  another occurred_at). Later months are created ahead by ``flywheel.db.partitions.ensure_partitions`` (`flywheel db
  upgrade`, the nightly DAG), not here: a migration does not depend on the clock.
* Existing rows are copied into the new table, which then takes the old one's name, indexes, comment and grants.
* The views that read the tables (any schema, views on views included) are found in the catalog, dropped, and
  created again exactly (definition, options, owner, comments, privileges) in dependency order: no list to keep.
* ``retention_drops``: one row per partition `flywheel retention` dropped (flywheel.db.retention).
* ``groundtruth_request_spans``: per request, the span of occurred_at the incremental fold has read
  (flywheel.db.request_spans): a night's probes read only the partitions of each request's span.

The downgrade makes plain tables again (one row per event_id: the earliest ingested, should an id be stored twice).

Revision ID: 0024
Revises: 0023
"""
from __future__ import annotations

from datetime import date
from typing import Any, NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

TABLES = ("projects", "intents", "responses", "tool_exports", "project_exports")


def _reshape(*, partitioned: bool) -> None:
    """Every event table swapped for its partitioned (or plain) twin, the views that read them saved and restored."""
    conn = op.get_bind()
    conn.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    views = _save_views(conn)
    _drop_views(conn, views)
    for table in TABLES:
        _swap(conn, table, partitioned=partitioned)
    _restore_views(conn, views)


def upgrade() -> None:
    _reshape(partitioned=True)
    op.create_table(
        "retention_drops",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("table_name", sa.String(length=63), nullable=False),
        sa.Column("partition", sa.String(length=63), nullable=False),
        sa.Column("lower", sa.DateTime(timezone=True), nullable=False),
        sa.Column("upper", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("export_path", sa.Text(), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("dropped_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_drops")),
    )
    op.create_index("ix_retention_drops_upper", "retention_drops", ["upper"])
    op.create_table(
        "groundtruth_request_spans",
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("lo", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hi", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_groundtruth_request_spans")),
    )
    # Aggregates folded before this revision: the spans of what they read, or the next night would miss old events.
    op.get_bind().execute(sa.text(
        "INSERT INTO groundtruth_request_spans (request_id, lo, hi) SELECT request_id, min(occurred_at),"
        " max(occurred_at) FROM (SELECT request_id, occurred_at, ingested_at FROM intents UNION ALL"
        " SELECT request_id, occurred_at, ingested_at FROM responses UNION ALL"
        " SELECT request_id, occurred_at, ingested_at FROM tool_exports) e"
        " WHERE ingested_at <= (SELECT max(watermark) FROM groundtruth_folds) GROUP BY request_id"))


def downgrade() -> None:
    op.drop_table("groundtruth_request_spans")
    op.drop_index("ix_retention_drops_upper", table_name="retention_drops")
    op.drop_table("retention_drops")
    _reshape(partitioned=False)


# ---------------------------------------------------------------- the tables

def _months(conn: Any, table: str) -> list[date]:
    return [r[0] for r in conn.execute(sa.text(
        f"SELECT DISTINCT date_trunc('month', occurred_at AT TIME ZONE 'UTC')::date FROM {table} ORDER BY 1"))]


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _swap(conn: Any, table: str, *, partitioned: bool) -> None:
    """Copy ``table`` into a new (partitioned or plain) table that then takes its name, indexes, comment and grants.
    Indexes are built after the copy (faster than maintaining them row by row)."""
    new = f"{table}__new"
    indexes = [r[0] for r in conn.execute(sa.text(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = CAST(:t AS regclass)"
        " AND NOT i.indisprimary ORDER BY i.indexrelid"), {"t": table})]
    comment, acl = _comment_and_acl(conn, table)
    like = f"(LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS)"
    if partitioned:
        _ddl(conn, f"CREATE TABLE {new} {like} PARTITION BY RANGE (occurred_at)")
        for m in _months(conn, table):
            _ddl(conn, f"CREATE TABLE {table}_p{m:%Y_%m} PARTITION OF {new} FOR VALUES FROM"
                       f" ('{m:%Y-%m-%d} 00:00:00+00') TO ('{_next_month(m):%Y-%m-%d} 00:00:00+00')")
        _ddl(conn, f"CREATE TABLE {table}_default PARTITION OF {new} DEFAULT")
        _ddl(conn, f"INSERT INTO {new} SELECT * FROM {table}")
        key = "event_id, occurred_at"
    else:
        _ddl(conn, f"CREATE TABLE {new} {like}")
        _ddl(conn, f"INSERT INTO {new} SELECT DISTINCT ON (event_id) * FROM {table} ORDER BY event_id, ingested_at")
        key = "event_id"
    _ddl(conn, f"DROP TABLE {table}")
    _ddl(conn, f"ALTER TABLE {new} RENAME TO {table}")
    _ddl(conn, f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
    for ddl in indexes:  # a partitioned table's index reads "ON ONLY t": the plain table has no partitions
        _ddl(conn, ddl.replace(" ON ONLY ", " ON "))
    _apply_comment_and_acl(conn, f"TABLE {table}", table, comment, acl)
    _ddl(conn, f"ANALYZE {table}")


# ---------------------------------------------------------------- the views that read them

class _View(NamedTuple):  # not a dataclass: Alembic loads this file outside sys.modules
    oid: int
    name: str  # quoted, schema-qualified
    definition: str
    options: str  # "WITH (...)" or ""
    owner: str
    comment: str | None  # quoted literal
    columns: list[tuple[str, str]]  # (quoted column, quoted comment literal)
    acl: set[tuple[str, str, bool]]
    deps: set[int]


_VIEWS = """
WITH RECURSIVE reads(view, uses) AS (  -- (view, relation it reads), for every view
    SELECT DISTINCT r.ev_class, d.refobjid FROM pg_depend d JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> r.ev_class
), dependent(view) AS (
    SELECT view FROM reads WHERE uses = ANY(CAST(:tables AS regclass[]))
    UNION SELECT r.view FROM reads r JOIN dependent d ON r.uses = d.view
)
SELECT c.oid, c.relkind, quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name,
       pg_get_viewdef(c.oid) AS definition, array_to_string(c.reloptions, ', ') AS options,
       quote_ident(pg_get_userbyid(c.relowner)) AS owner,
       quote_literal(obj_description(c.oid, 'pg_class')) AS comment,
       ARRAY(SELECT r.uses FROM reads r WHERE r.view = c.oid) AS uses
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid IN (SELECT view FROM dependent)
"""
_COLUMN_COMMENTS = ("SELECT quote_ident(attname), quote_literal(col_description(attrelid, attnum)) FROM pg_attribute"
                    " WHERE attrelid = :oid AND attnum > 0 AND NOT attisdropped"
                    " AND col_description(attrelid, attnum) IS NOT NULL ORDER BY attnum")
_ACL = ("SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END,"
        " a.privilege_type, a.is_grantable FROM pg_class c,"
        " aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a WHERE c.oid = CAST(:r AS regclass)")


def _ddl(conn: Any, statement: str) -> None:
    # Not sa.text: a view's definition may hold ":name" or "%" that a bind-parameter parser would take for its own.
    conn.exec_driver_sql(statement)


def _comment_and_acl(conn: Any, relation: str) -> tuple[str | None, set[tuple[str, str, bool]]]:
    comment = conn.execute(sa.text("SELECT quote_literal(obj_description(CAST(:r AS regclass), 'pg_class'))"),
                           {"r": relation}).scalar()
    return comment, _acl(conn, relation)


def _acl(conn: Any, relation: str) -> set[tuple[str, str, bool]]:
    return {(g, p, bool(o)) for g, p, o in conn.execute(sa.text(_ACL), {"r": relation})}


def _apply_comment_and_acl(conn: Any, target: str, relation: str, comment: str | None,
                           acl: set[tuple[str, str, bool]]) -> None:
    """The relation's comment and exactly the privileges it had (what a new relation gets by default, such as an
    ALTER DEFAULT PRIVILEGES grant, is revoked when the old one did not have it)."""
    on = target.split(" ", 1)[1]
    if comment is not None:
        _ddl(conn, f"COMMENT ON {target} IS {comment}")
    now = _acl(conn, relation)
    for grantee, privilege, _ in sorted(now - acl):
        _ddl(conn, f"REVOKE {privilege} ON {on} FROM {grantee}")
    for grantee, privilege, grantable in sorted(acl - now):
        _ddl(conn, f"GRANT {privilege} ON {on} TO {grantee}" + (" WITH GRANT OPTION" if grantable else ""))


def _save_views(conn: Any) -> list[_View]:
    """Every view that reads an event table, directly or through other views, in the order they can be created."""
    rows = conn.execute(sa.text(_VIEWS), {"tables": list(TABLES)}).mappings().all()
    if any(r["relkind"] != "v" for r in rows):
        raise RuntimeError("a materialized view reads an event table: 0024 only recreates plain views")
    views = {r["oid"]: _View(oid=r["oid"], name=r["name"], definition=r["definition"],
                             options=f"WITH ({r['options']}) " if r["options"] else "", owner=r["owner"],
                             comment=r["comment"], columns=[tuple(c) for c in conn.execute(  # type: ignore[misc]
                                 sa.text(_COLUMN_COMMENTS), {"oid": r["oid"]})],
                             acl=_acl(conn, r["name"]), deps=set(r["uses"])) for r in rows}
    ordered: list[_View] = []
    done: set[int] = set()
    while len(ordered) < len(views):
        ready = [v for v in views.values() if v.oid not in done and not (v.deps & views.keys()) - done]
        if not ready:
            raise RuntimeError("the views that read the event tables depend on each other in a cycle")
        for v in sorted(ready, key=lambda v: v.name):
            ordered.append(v)
            done.add(v.oid)
    return ordered


def _drop_views(conn: Any, views: list[_View]) -> None:
    for v in reversed(views):
        _ddl(conn, f"DROP VIEW {v.name}")


def _restore_views(conn: Any, views: list[_View]) -> None:
    for v in views:
        _ddl(conn, f"CREATE VIEW {v.name} {v.options}AS {v.definition}")
        _ddl(conn, f"ALTER VIEW {v.name} OWNER TO {v.owner}")
        for column, comment in v.columns:
            _ddl(conn, f"COMMENT ON COLUMN {v.name}.{column} IS {comment}")
        _apply_comment_and_acl(conn, f"VIEW {v.name}", v.name, v.comment, v.acl)
