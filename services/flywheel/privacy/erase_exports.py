"""Erasure in the Parquet files retention exported before dropping a partition (docs/domain.md#erasure).

An exported partition is still data under the platform's control: an erased user's rows leave it like they leave the
tables. The user's projects are those the database still names (``er_projects``) and those an exported ``projects``
file names with their user id (the project row may have expired before the user asked). Every exported file of an
event table is rewritten without the rows of those projects; its manifest gets the new row count and sha256 and the
erasure's id, and ``retention_drops.manifest_sha256`` follows, so the manifest still vouches for the file.

Cost: one column read per exported file (``project_id``; ``user_id`` for projects), a rewrite only where a row goes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from flywheel.checksums import file_sha256


def scrub_exports(conn: Connection, *, user_id: str, erasure_id: int) -> int:
    """Remove the user's rows from every exported partition; returns the rows removed."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    drops = conn.execute(text(
        "SELECT id, table_name, export_path FROM retention_drops WHERE export_path IS NOT NULL ORDER BY id")).all()
    files = [(d.id, d.table_name, Path(d.export_path)) for d in drops if Path(d.export_path).is_file()]
    if not files:
        return 0
    projects = set(conn.execute(text("SELECT project_id FROM er_projects")).scalars())
    for _, table, path in files:
        if table == "projects":
            t = pq.read_table(path, columns=["user_id", "project_id"])
            mask = pc.equal(t.column("user_id"), user_id)
            projects.update(str(p) for p in t.filter(mask).column("project_id").to_pylist())
    if not projects:
        return 0
    wanted = list(projects)
    removed = 0
    for drop_id, _, path in files:
        ids = pq.read_table(path, columns=["project_id"]).column("project_id")
        hits = pc.sum(pc.is_in(ids, value_set=_array(wanted))).as_py() or 0
        if not hits:
            continue
        whole = pq.read_table(path)
        kept = whole.filter(pc.invert(pc.is_in(whole.column("project_id"), value_set=_array(wanted))))
        tmp = path.with_suffix(".parquet.erase")
        pq.write_table(kept, tmp, compression="zstd")
        os.replace(tmp, path)
        removed += whole.num_rows - kept.num_rows
        sha = _rewrite_manifest(path, rows=kept.num_rows, erasure_id=erasure_id)
        if sha is not None:
            conn.execute(text("UPDATE retention_drops SET manifest_sha256 = :s WHERE id = :i"),
                         {"s": sha, "i": drop_id})
    return removed


def _array(values: list[str]) -> Any:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def _rewrite_manifest(path: Path, *, rows: int, erasure_id: int) -> str | None:
    mpath = path.with_name(path.name.removesuffix(".parquet") + ".manifest.json")
    if not mpath.is_file():
        return None
    manifest = json.loads(mpath.read_text())
    manifest.update(rows=rows, sha256=file_sha256(path), erasures=[*manifest.get("erasures", []), erasure_id])
    body = json.dumps(manifest, indent=2, sort_keys=True).encode()
    tmp = mpath.with_suffix(".json.erase")
    tmp.write_bytes(body)
    os.replace(tmp, mpath)
    return hashlib.sha256(body).hexdigest()
