"""Retention of events (docs/domain.md#partitions-and-retention): whole monthly partitions past the window are
detached and dropped, optionally exported first to Parquet with a manifest; each drop is recorded in
``retention_drops``.

Never a ``DELETE``: a partition goes at once (no bloat, no vacuum). Never the default partition, nor the current
month's. The exports are written and fsynced before anything is dropped, and the drops come last in the caller's
transaction, so the event tables are locked (ACCESS EXCLUSIVE, which DETACH takes) only for the drops themselves.
A late event for a dropped month lands in the default partition; the next ``ensure_partitions`` gives it its month
again and the next retention drops it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from flywheel.checksums import file_sha256
from flywheel.db.base import Base
from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.db.partitions import Partition, list_partitions, month_start
from flywheel.settings import Settings


class RetentionDrop(Base):
    """One event partition retention dropped: its range, rows, and where its export went (if it was exported)."""

    __tablename__ = "retention_drops"
    __table_args__ = (Index("ix_retention_drops_upper", "upper"),)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(63))
    partition: Mapped[str] = mapped_column(String(63))
    lower: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    upper: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    export_path: Mapped[str | None] = mapped_column(Text)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    dropped_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


@dataclass(frozen=True)
class Dropped:
    partition: Partition
    rows: int  # exact, counted while the partition was locked against writes
    export_path: str | None  # the Parquet file
    manifest_sha256: str | None
    export_s: float = 0.0


def plan_retention(conn: Any, *, now: datetime, days: int) -> list[Partition]:
    """The whole partitions past the window: their upper bound is at or before ``now - days`` (and before the
    current month). Default partitions never go."""
    if days < 1:
        raise ValueError(f"retention needs at least one day, got {days}")
    cutoff = min(now - timedelta(days=days), month_start(now))
    return [p for p in list_partitions(conn) if p.upper is not None and p.upper <= cutoff]


def apply_retention(conn: Any, *, now: datetime, days: int, export_dir: Path | None = None) -> list[Dropped]:
    """Drop what :func:`plan_retention` lists, each partition exported first when ``export_dir`` is given, and record
    each drop in ``retention_drops``. Runs in the caller's transaction (the drops take effect at its commit)."""
    import time

    xact_lock(conn, LockNamespace.PARTITIONS)
    plan = plan_retention(conn, now=now, days=days)
    kept: list[Dropped] = []
    for p in plan:
        # Late events of that month wait (until the commit) rather than slip in after the export.
        conn.execute(text(f"LOCK TABLE {p.name} IN SHARE MODE"))
        t0 = time.perf_counter()
        if export_dir is not None:
            path, manifest_sha, rows = export_partition(conn, partition=p, export_dir=export_dir)
            kept.append(Dropped(p, rows, str(path), manifest_sha, time.perf_counter() - t0))
        else:
            rows = conn.execute(text(f"SELECT count(*) FROM {p.name}")).scalar_one()
            kept.append(Dropped(p, int(rows), None, None))
    for d in kept:
        p = d.partition
        conn.execute(text(f"ALTER TABLE {p.table} DETACH PARTITION {p.name}"))
        conn.execute(text(f"DROP TABLE {p.name}"))
        conn.execute(text(
            "INSERT INTO retention_drops (table_name, partition, lower, upper, rows, bytes, export_path,"
            " manifest_sha256) VALUES (:t, :p, :lo, :hi, :n, :b, :path, :sha)"),
            {"t": p.table, "p": p.name, "lo": p.lower, "hi": p.upper, "n": d.rows, "b": p.bytes,
             "path": d.export_path, "sha": d.manifest_sha256})
    return kept


def expire_dead_letters(conn: Any, *, now: datetime, days: int, dry_run: bool) -> int:
    """Dead letters (``failed_events``: raw events, user ids and intents included) first seen before the window go
    too (counted only, on a dry run); one still waiting for its dead-letter copy to reach the broker stays."""
    where = "first_seen < :cut AND NOT dead_letter_pending"
    args = {"cut": now - timedelta(days=days)}
    if dry_run:
        return int(conn.execute(text(f"SELECT count(*) FROM failed_events WHERE {where}"), args).scalar_one())
    return int(conn.execute(text(f"DELETE FROM failed_events WHERE {where}"), args).rowcount)


@dataclass
class RetentionReport:
    days: int | None  # None: retention is off (FLYWHEEL_RETENTION_DAYS unset)
    dry_run: bool
    planned: list[Partition]
    dropped: list[Dropped]
    duration_s: float
    dead_letters: int = 0  # failed_events past the window: would go (dry run) or went

    def as_dict(self) -> dict[str, Any]:
        """For a DAG task's XCom and logs: what goes (dry run) or went."""
        done = {d.partition.name: d for d in self.dropped}
        return {"days": self.days, "dry_run": self.dry_run, "duration_s": round(self.duration_s, 3),
                "dead_letters": self.dead_letters, "partitions": [
            {"table": p.table, "partition": p.name, "range": p.range_text(), "rows": (done[p.name].rows
             if p.name in done else p.rows), "bytes": p.bytes,
             "export": done[p.name].export_path if p.name in done else None} for p in self.planned]}


def run_retention(settings: Settings, *, dry_run: bool = False, days: int | None = None,
                  export_dir: Path | None = None, now: datetime | None = None,
                  airflow_run_id: str | None = None) -> RetentionReport:
    """`flywheel retention` and the flywheel_retention DAG: ``days`` and ``export_dir`` default to the settings
    (retention_days, retention_export_dir); no window = nothing goes."""
    import time

    from flywheel.db.engine import owned_engine

    days = days if days is not None else settings.retention_days
    export_dir = export_dir if export_dir is not None else settings.retention_export_dir
    at = now or datetime.now(UTC)
    t0 = time.perf_counter()
    if days is None:
        return RetentionReport(None, dry_run, [], [], 0.0)
    with owned_engine(settings) as eng, eng.begin() as conn:
        letters = expire_dead_letters(conn, now=at, days=days, dry_run=dry_run)
        if dry_run:
            return RetentionReport(days, True, plan_retention(conn, now=at, days=days), [],
                                   time.perf_counter() - t0, letters)
        dropped = apply_retention(conn, now=at, days=days, export_dir=export_dir)
    return RetentionReport(days, False, [d.partition for d in dropped], dropped, time.perf_counter() - t0, letters)


def evidence_expired_before(conn: Any) -> datetime | None:
    """The latest upper bound retention dropped (events of the tables ground truth reads), None when none was."""
    return conn.execute(text("SELECT max(upper) FROM retention_drops WHERE table_name IN"
                             " ('intents', 'responses', 'tool_exports')")).scalar()


def evidence_lost(conn: Any, *, full: bool) -> bool:
    """Whether a ground-truth run misses dropped evidence: a full run always (it reads the events left); an
    incremental one when a drop came before the aggregates' first fold (they were reset after
    it), else the aggregates hold what was folded before the drop."""
    return bool(conn.execute(text(
        "SELECT EXISTS (SELECT 1 FROM retention_drops WHERE table_name IN ('intents', 'responses', 'tool_exports')"
        " AND (:full OR dropped_at < coalesce((SELECT min(created_at) FROM groundtruth_folds), now())))"),
        {"full": full}).scalar_one())


# ---------------------------------------------------------------- Parquet export

_ARROW = {"uuid": "string", "text": "string", "character varying": "string", "jsonb": "string", "json": "string",
          "integer": "int32", "bigint": "int64", "smallint": "int16", "double precision": "float64", "real": "float32",
          "boolean": "bool", "timestamp with time zone": "timestamp[us, tz=UTC]"}
_TEXT_CAST = {"uuid", "jsonb", "json"}  # as their text: Parquet has no such types, and readers can parse them


def export_partition(conn: Any, *, partition: Partition, export_dir: Path) -> tuple[Path, str, int]:
    """Write the partition to ``<export_dir>/<table>/<partition>.parquet`` and its manifest beside it (table, range,
    rows, columns, the file's sha256); both fsynced before this returns. Returns (Parquet path, manifest sha256,
    rows). Postgres writes CSV (COPY) and Arrow parses it in C++: rows never pass through Python one by one (a
    month of 2.5M events: 24 s that way)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    cols = conn.execute(text(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = CAST(:t AS regclass)"
        " AND attnum > 0 AND NOT attisdropped ORDER BY attnum"), {"t": partition.name}).all()
    schema = pa.schema([(n, _arrow_type(pa, _ARROW.get(t, "string"))) for n, t in cols])
    stamps = {n for n, t in cols if t == "timestamp with time zone"}  # as epoch microseconds: no zone to parse
    select = ", ".join(f'(extract(epoch FROM "{n}") * 1000000)::bigint' if n in stamps else
                       f'"{n}"::text' if t in _TEXT_CAST or t not in _ARROW else f'"{n}"' for n, t in cols)
    folder = export_dir / partition.table
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{partition.name}.parquet"
    tmp, csv = path.with_suffix(".parquet.tmp"), path.with_suffix(".csv.tmp")
    raw = conn.connection.dbapi_connection  # the caller's transaction (and its lock on the partition)
    with raw.cursor() as cur, csv.open("wb") as out:
        cur.copy_expert(f"COPY (SELECT {select} FROM {partition.name}) TO STDOUT WITH (FORMAT csv)", out)
    read = pacsv.ConvertOptions(
        column_types={f.name: pa.int64() if f.name in stamps else f.type for f in schema}, true_values=["t"],
        false_values=["f"], strings_can_be_null=True, quoted_strings_can_be_null=False)  # NULL is unquoted, '' not
    rows = 0
    try:
        if csv.stat().st_size == 0:  # an empty partition: Arrow refuses an empty CSV
            pq.write_table(schema.empty_table(), tmp, compression="zstd")
        else:
            rows = _csv_to_parquet(pacsv, pq, pa, csv, tmp, schema, read)
    finally:
        csv.unlink(missing_ok=True)
    _fsync(tmp)
    os.replace(tmp, path)
    manifest = {"table": partition.table, "partition": partition.name, "lower": partition.lower.isoformat()
                if partition.lower else None, "upper": partition.upper.isoformat() if partition.upper else None,
                "rows": rows, "columns": [{"name": n, "type": t} for n, t in cols], "file": path.name,
                "sha256": file_sha256(path), "exported_at": datetime.now(UTC).isoformat()}
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    mpath = folder / f"{partition.name}.manifest.json"
    mpath.write_bytes(body)
    _fsync(mpath)
    return path, hashlib.sha256(body).hexdigest(), rows


def _csv_to_parquet(pacsv: Any, pq: Any, pa: Any, csv: Path, out: Path, schema: Any, convert: Any) -> int:
    rows = 0
    reader = pacsv.open_csv(csv, read_options=pacsv.ReadOptions(column_names=schema.names, block_size=1 << 25),
                            parse_options=pacsv.ParseOptions(newlines_in_values=True),  # free text may hold them
                            convert_options=convert)
    with pq.ParquetWriter(out, schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_table(pa.Table.from_arrays(
                [batch.column(i).cast(f.type) for i, f in enumerate(schema)], schema=schema))
            rows += batch.num_rows
    return int(rows)


def _arrow_type(pa: Any, name: str) -> Any:
    if name.startswith("timestamp"):
        return pa.timestamp("us", tz="UTC")
    return {"string": pa.string(), "int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(),
            "float32": pa.float32(), "float64": pa.float64(), "bool": pa.bool_()}[name]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
