"""Training splits (docs/domain.md#splits): test = N unique intents drawn by seed, train = the rest, stored and
exported.

The draw is ``md5(seed || ':' || intent_norm)`` order, computed in Postgres: the same (run, seed, test_size) always
gives the same split on any machine, independent of row order, and the split id is a hash of exactly those three
(making a split twice returns the stored one). Derived splits (augmentation) are registered with
:func:`register_split`; they name their parent split and keep their rows in ``split_members`` like any other.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from flywheel.contracts import ADJUST_KEYS, CHANNELS, COLORS, FILTER_KEYS, TOOLS
from flywheel.datasets.files import split_dir
from flywheel.datasets.validate import ensure_groundtruth_valid, validate_split
from flywheel.db.engine import owned_engine
from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.db.runs import track_run
from flywheel.settings import Settings

PARTS = ("train", "test")
R_KS = (3, 5)


class SplitError(ValueError):
    pass


@dataclass
class SplitResult:
    split_id: str
    groundtruth_run_id: str | None
    parent_split_id: str | None
    seed: int | None
    test_size: int | None
    counts: dict[str, Any]
    path: Path
    created: bool = True
    # part -> tool -> {"used": n, "all": n}: the paper's "Set" table.
    set_table: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    # "r_3" / "r_5" -> number of test intents with support >= k.
    r_sizes: dict[str, int] = field(default_factory=dict)


def split_id_for(groundtruth_run_id: str, seed: int, test_size: int) -> str:
    key = f"{groundtruth_run_id}|seed={seed}|test={test_size}"
    return "sp-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def make_split(settings: Settings, groundtruth_run_id: str, test_size: int = 1000, seed: int = 0, *,
               validate: bool = True, engine: Engine | None = None, airflow_run_id: str | None = None
               ) -> SplitResult:
    """The split stage: split a ground-truth run by unique intent; store it, write JSONL files, and (by default)
    gate it with GX.

    With ``validate`` the ground-truth run must pass its suite first (it is validated now if it never was), and the
    new split is validated before it is returned; a failure raises ``ValidationFailed`` (the split stays stored for
    inspection, its failed result in ``validation_results``).
    """
    if test_size < 1:
        raise SplitError(f"test_size must be >= 1, got {test_size}")
    inputs = {"groundtruth_run_id": groundtruth_run_id, "test_size": test_size, "seed": seed, "validate": validate}
    with owned_engine(settings, engine) as eng, \
            track_run(eng, stage="split", inputs=inputs, airflow_run_id=airflow_run_id) as out:
        if validate:
            ensure_groundtruth_valid(settings, groundtruth_run_id, engine=eng)
        split_id = split_id_for(groundtruth_run_id, seed, test_size)
        with eng.begin() as conn:
            created = _store_split(conn, split_id, groundtruth_run_id, test_size, seed)
        result = get_split(settings, split_id, engine=eng)
        result.created = created
        if created or not (result.path / "meta.json").exists():
            export_split(settings, split_id, engine=eng)
        if validate:
            validate_split(settings, split_id, engine=eng)
        out.update(split_id=split_id, created=created, counts={p: result.counts.get(p, 0) for p in PARTS},
                   path=str(result.path))
    return result


def _store_split(conn: Connection, split_id: str, groundtruth_run_id: str, test_size: int, seed: int) -> bool:
    """Insert the split and its members unless it exists (under an advisory lock); True if it was created."""
    status = conn.execute(text("SELECT status FROM groundtruth_runs WHERE run_id = :r"),
                          {"r": groundtruth_run_id}).scalar()
    if status != "succeeded":
        raise SplitError(f"ground-truth run {groundtruth_run_id!r} "
                         + ("does not exist" if status is None else f"has status {status!r}"))
    xact_lock(conn, LockNamespace.SPLIT, split_id)
    if conn.execute(text("SELECT 1 FROM splits WHERE split_id = :s"), {"s": split_id}).first() is not None:
        return False
    n = conn.execute(text("SELECT count(DISTINCT intent_norm) FROM groundtruth_rows WHERE run_id = :r"),
                     {"r": groundtruth_run_id}).scalar_one()
    if test_size >= n:
        raise SplitError(f"test_size {test_size} leaves no training data: run {groundtruth_run_id!r} "
                         f"has {n} intents (use --test-size < {n})")
    conn.execute(text(
        "INSERT INTO splits (split_id, parent_split_id, groundtruth_run_id, seed, test_size, params)"
        " VALUES (:s, NULL, :r, :seed, :ts, CAST(:p AS jsonb))"),
        {"s": split_id, "r": groundtruth_run_id, "seed": seed, "ts": test_size,
         "p": json.dumps({"method": "md5(seed:intent_norm)"})})
    conn.execute(text(_SPLIT_SQL), {"s": split_id, "r": groundtruth_run_id, "seed_key": f"{seed}:", "ts": test_size})
    counts = _counts(conn, split_id)
    conn.execute(text("UPDATE splits SET counts = CAST(:c AS jsonb) WHERE split_id = :s"),
                 {"c": json.dumps(counts), "s": split_id})
    return True


_SPLIT_SQL = """
INSERT INTO split_members (split_id, intent, part, adjust, selective_adjust, filter, support)
SELECT :s, intent_norm,
       CASE WHEN row_number() OVER (ORDER BY md5(:seed_key || intent_norm), intent_norm) <= :ts
            THEN 'test' ELSE 'train' END,
       adjust, selective_adjust, filter, support
FROM (
    SELECT intent_norm,
           (array_agg(output) FILTER (WHERE tool = 'adjust'))[1] AS adjust,
           (array_agg(output) FILTER (WHERE tool = 'selective_adjust'))[1] AS selective_adjust,
           (array_agg(output) FILTER (WHERE tool = 'filter'))[1] AS filter,
           max(support) AS support
    FROM groundtruth_rows
    WHERE run_id = :r
    GROUP BY intent_norm
) g
"""


def _counts(conn: Any, split_id: str) -> dict[str, Any]:
    rk = ", ".join(f"count(*) FILTER (WHERE support >= {k}) AS r_{k}" for k in R_KS)
    rows = conn.execute(text(
        f"SELECT part, count(*) AS n, count(adjust) AS adjust, count(selective_adjust) AS selective_adjust,"
        f" count(filter) AS filter, {rk} FROM split_members WHERE split_id = :s GROUP BY part"),
        {"s": split_id}).mappings().all()
    by_part = {r["part"]: r for r in rows}
    out: dict[str, Any] = {"set_table": {}, "r_sizes": {}}
    for part in PARTS:
        r = by_part.get(part)
        out[part] = int(r["n"]) if r else 0
        out["set_table"][part] = {t: {"used": int(r[t]) if r else 0, "all": int(r["n"]) if r else 0} for t in TOOLS}
    test = by_part.get("test")
    for k in R_KS:
        out["r_sizes"][f"r_{k}"] = int(test[f"r_{k}"]) if test else 0
    return out


def get_split(settings: Settings, split_id: str, *, engine: Engine | None = None) -> SplitResult:
    with owned_engine(settings, engine) as eng, eng.connect() as conn:
        row = conn.execute(text("SELECT * FROM splits WHERE split_id = :s"), {"s": split_id}).mappings().first()
        if row is None:
            raise SplitError(f"no split {split_id!r}")
        counts = dict(row["counts"] or {}) or _counts(conn, split_id)
    return SplitResult(split_id=split_id, groundtruth_run_id=row["groundtruth_run_id"],
                       parent_split_id=row["parent_split_id"], seed=row["seed"], test_size=row["test_size"],
                       counts=counts, path=split_dir(settings, split_id), created=False,
                       set_table=counts.get("set_table", {}), r_sizes=counts.get("r_sizes", {}))


def _ordered_sql(column: str, keys: tuple[str, ...], inner: tuple[str, ...] | None = None) -> str:
    """SQL for a JSONB column re-emitted as ``json`` with keys in contract order (unknown keys last, by name)."""
    order = "ARRAY[" + ", ".join(f"'{k}'" for k in keys) + "]"
    value = "value::json"
    if inner is not None:
        iorder = "ARRAY[" + ", ".join(f"'{k}'" for k in inner) + "]"
        value = ("CASE WHEN jsonb_typeof(value) = 'object' THEN coalesce((SELECT json_object_agg(k2, v2::json ORDER BY"
                 f" array_position({iorder}, k2), k2) FROM jsonb_each(value) AS e2(k2, v2)), '{{}}'::json)"
                 " ELSE value::json END")
    return (f"CASE WHEN jsonb_typeof({column}) = 'object' THEN coalesce((SELECT json_object_agg(key, {value} ORDER BY"
            f" array_position({order}, key), key) FROM jsonb_each({column})), '{{}}'::json) ELSE {column}::json END")


# One JSON line per member, built in Postgres: no per-row JSON parsing in Python, keys in contract order.
_LINE_SQL = (
    "SELECT json_build_object('intent', intent, "
    f"'adjust', {_ordered_sql('adjust', ADJUST_KEYS)}, "
    f"'selective_adjust', {_ordered_sql('selective_adjust', COLORS, CHANNELS)}, "
    f"'filter', {_ordered_sql('filter', FILTER_KEYS)}, "
    "'support', support)::text FROM split_members WHERE split_id = :s AND part = :p ORDER BY intent"
)


def export_split(settings: Settings, split_id: str, *, engine: Engine | None = None) -> Path:
    """Write ``train.jsonl``, ``test.jsonl`` and ``meta.json`` (atomically: temp file, then rename)."""
    split = get_split(settings, split_id, engine=engine)
    out = split_dir(settings, split_id)
    out.mkdir(parents=True, exist_ok=True)
    with owned_engine(settings, engine) as eng, eng.connect() as conn:
        for part in PARTS:
            tmp = out / f".{part}.jsonl.tmp"
            with tmp.open("w", encoding="utf-8") as fh:
                res = conn.execution_options(stream_results=True, yield_per=20_000).execute(
                    text(_LINE_SQL), {"s": split_id, "p": part})
                for chunk in res.partitions():
                    fh.write("".join(line + "\n" for (line,) in chunk))
            os.replace(tmp, out / f"{part}.jsonl")
    meta = {"split_id": split_id, "parent_split_id": split.parent_split_id,
            "groundtruth_run_id": split.groundtruth_run_id, "seed": split.seed, "test_size": split.test_size,
            "counts": {p: split.counts.get(p, 0) for p in PARTS}, "set_table": split.set_table,
            "r_sizes": split.r_sizes}
    tmp = out / ".meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True))
    os.replace(tmp, out / "meta.json")
    return out


def load_split_rows(settings: Settings, split_id: str, part: str) -> list[dict[str, Any]]:
    """Rows of one part from the exported JSONL file."""
    if part not in PARTS:
        raise SplitError(f"part must be one of {PARTS}, got {part!r}")
    path = split_dir(settings, split_id) / f"{part}.jsonl"
    if not path.exists():
        raise SplitError(f"{path} does not exist: export the split first (flywheel splits ...)")
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _clean_rows(rows: list[dict[str, Any]], part: str) -> list[dict[str, Any]]:
    out, seen, dupes = [], set(), []
    for i, r in enumerate(rows):
        if not isinstance(r, dict) or not isinstance(r.get("intent"), str) or not r["intent"].strip():
            raise SplitError(f"{part} row {i}: needs a non-empty string 'intent', got {r!r:.200}")
        if r["intent"] in seen:
            dupes.append(r["intent"])
        seen.add(r["intent"])
        support = r.get("support", 0)
        if not isinstance(support, int) or isinstance(support, bool):
            raise SplitError(f"{part} row {i} ({r['intent']!r}): 'support' must be an int, got {support!r}")
        out.append({"intent": r["intent"], "support": support,
                    **{t: None if r.get(t) is None else json.dumps(r[t]) for t in TOOLS}})
    if dupes:
        raise SplitError(f"{len(dupes)} duplicate intent(s) in {part} rows (dedupe before registering), "
                         f"e.g. {dupes[:5]}")
    return out


def register_split(settings: Settings, train_rows: list[dict[str, Any]], test_rows: list[dict[str, Any]],
                   parent_split_id: str | None, groundtruth_run_id: str | None, params: dict[str, Any], *,
                   engine: Engine | None = None) -> str:
    """Store a derived split (e.g. augmented train rows) and write its files; returns the new split id.

    Rows use the JSONL format of :func:`export_split`. Content checks (ranges, catalogue, leakage) are the GX
    gate's job: call ``flywheel.datasets.validate.validate_split`` on the returned id.
    """
    train, test = _clean_rows(train_rows, "train"), _clean_rows(test_rows, "test")
    split_id = "sp-" + uuid.uuid4().hex[:16]
    with owned_engine(settings, engine) as eng:
        with eng.begin() as conn:
            parent = None
            if parent_split_id is not None:
                parent = conn.execute(text("SELECT seed, test_size FROM splits WHERE split_id = :s"),
                                      {"s": parent_split_id}).first()
                if parent is None:
                    raise SplitError(f"parent split {parent_split_id!r} does not exist")
            conn.execute(text(
                "INSERT INTO splits (split_id, parent_split_id, groundtruth_run_id, seed, test_size, params)"
                " VALUES (:s, :parent, :r, :seed, :ts, CAST(:p AS jsonb))"),
                {"s": split_id, "parent": parent_split_id, "r": groundtruth_run_id,
                 "seed": parent[0] if parent else None, "ts": len(test),
                 "p": json.dumps(params, sort_keys=True, default=str)})
            ins = text("INSERT INTO split_members (split_id, intent, part, adjust, selective_adjust, filter, support)"
                       " VALUES (:s, :intent, :part, CAST(:adjust AS jsonb), CAST(:selective_adjust AS jsonb),"
                       " CAST(:filter AS jsonb), :support)")
            for part, rows in (("train", train), ("test", test)):
                for i in range(0, len(rows), 5000):
                    conn.execute(ins, [dict(r, s=split_id, part=part) for r in rows[i:i + 5000]])
            counts = _counts(conn, split_id)
            conn.execute(text("UPDATE splits SET counts = CAST(:c AS jsonb) WHERE split_id = :s"),
                         {"c": json.dumps(counts), "s": split_id})
        export_split(settings, split_id, engine=eng)
    return split_id
