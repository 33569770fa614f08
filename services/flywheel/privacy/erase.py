"""Erasure of one user (docs/domain.md#erasure, `flywheel erase --user ID`): their events leave every table, their
private intent text leaves everything derived from it, and what their evidence fed is made stale or listed, in one
transaction, with a record that holds no personal data (``erasures``, revision 0023).

* Events: the user's projects (``projects.user_id``), every event of those projects or of their requests, and the
  dead letters (``failed_events``) whose raw bytes name the user, one of their projects or one of their intents.
* Private text: an ``intent_norm`` the user typed and nobody else did. Its ground-truth versions, split members and
  reality-check tasks go, and the split files holding it are rewritten without it (and marked, see below). An
  intent others typed too stays, with their evidence only.
* Ground truth: the user's requests are taken out of the incremental aggregates before their events go
  (``flywheel.datasets.groundtruth_unfold``: a fold with negative deltas that lists the intents it touched), so the
  next run stays incremental and re-picks only those. Every run whose watermark is past the user's first event
  counted their evidence; it is marked ``stale`` (kept: splits name it; never served again, a run at its watermark is
  recomputed in place).
* Splits holding any of the user's intents, their derived splits, the models trained on them and the reality-check
  batches that lost a task are listed in the record; a split that lost an intent is unusable (listed, an
  ``ERASED.json`` marker beside its files, refused by training). Model folders lose the private intents' lines of
  their prediction files (``test_predictions.jsonl``, ``eval/*/predictions.jsonl``) and a model trained on an
  unusable split is marked. Kafka keeps the raw events until the topic retention drops them (README).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

from flywheel.datasets.erased import MARKER, scrub_folder
from flywheel.datasets.groundtruth_unfold import Unfold, forget_picks, settle, unfold
from flywheel.db.locks import LockNamespace, xact_lock
from flywheel.privacy.erase_exports import scrub_exports

__all__ = ["MARKER", "Erasure", "erase_user", "user_sha256"]

_FIND = """
CREATE TEMPORARY TABLE er_projects ON COMMIT DROP AS
SELECT DISTINCT project_id FROM projects WHERE user_id = :u;
CREATE TEMPORARY TABLE er_requests ON COMMIT DROP AS
SELECT request_id FROM intents WHERE project_id IN (SELECT project_id FROM er_projects)
UNION SELECT request_id FROM responses WHERE project_id IN (SELECT project_id FROM er_projects)
UNION SELECT request_id FROM tool_exports WHERE project_id IN (SELECT project_id FROM er_projects);
CREATE TEMPORARY TABLE er_touched ON COMMIT DROP AS
SELECT DISTINCT intent_norm FROM intents WHERE request_id IN (SELECT request_id FROM er_requests);
CREATE TEMPORARY TABLE er_typed ON COMMIT DROP AS
SELECT DISTINCT intent, intent_norm FROM intents WHERE request_id IN (SELECT request_id FROM er_requests);
"""

# The user's first event (every ground-truth run at or past it counted their evidence) and their last.
_SPAN = "SELECT min(a), max(b) FROM (" + " UNION ALL ".join(
    f"SELECT min(ingested_at) AS a, max(ingested_at) AS b FROM {t} WHERE request_id IN"
    " (SELECT request_id FROM er_requests)" for t in ("intents", "responses", "tool_exports")) + ") s"

# Children before parents is not needed (no foreign keys between event tables); request ids cover every row of the
# user's projects (er_requests was built from them).
_EVENTS = {
    "intents": "DELETE FROM intents WHERE request_id IN (SELECT request_id FROM er_requests)",
    "responses": "DELETE FROM responses WHERE request_id IN (SELECT request_id FROM er_requests)",
    "tool_exports": "DELETE FROM tool_exports WHERE request_id IN (SELECT request_id FROM er_requests)",
    "project_exports": "DELETE FROM project_exports WHERE project_id IN (SELECT project_id FROM er_projects)",
    "projects": "DELETE FROM projects WHERE user_id = :u OR project_id IN (SELECT project_id FROM er_projects)",
    # Where the fold last read each request (db/request_spans.py): ids and dates only, but they are the user's.
    "groundtruth_request_spans": "DELETE FROM groundtruth_request_spans"
                                 " WHERE request_id IN (SELECT request_id FROM er_requests)",
}

# A dead letter is raw bytes of any shape: it goes when it names the user, one of their projects or a text they typed
# that is theirs only (a text others typed too names nobody; a text typed as the user typed it is theirs only when
# its normal form is).
_DEAD_LETTERS = """
DELETE FROM failed_events f
WHERE EXISTS (SELECT 1 FROM er_keys k WHERE strpos(coalesce(f.raw_text, ''), k.key) > 0
              OR position(convert_to(k.key, 'UTF8') IN coalesce(f.raw, ''::bytea)) > 0)
"""
_KEYS = """
CREATE TEMPORARY TABLE er_keys ON COMMIT DROP AS
SELECT CAST(:u AS text) AS key UNION SELECT project_id FROM er_projects
UNION SELECT intent_norm FROM er_private
UNION SELECT intent FROM er_typed WHERE intent_norm IN (SELECT intent_norm FROM er_private)
"""

# What nobody else typed, once the user's intents are gone (the hash index on intent_norm answers each probe).
_PRIVATE = """
CREATE TEMPORARY TABLE er_private ON COMMIT DROP AS
SELECT t.intent_norm FROM er_touched t WHERE NOT EXISTS (SELECT 1 FROM intents i WHERE i.intent_norm = t.intent_norm)
"""

# Splits holding one of the user's intents, with every split derived from them (augmentation copies its parent).
_SPLITS = """
WITH RECURSIVE hit AS (
    SELECT DISTINCT split_id, bool_or(intent IN (SELECT intent_norm FROM er_private)) AS lost
    FROM split_members WHERE intent IN (SELECT intent_norm FROM er_touched) GROUP BY split_id
    UNION
    SELECT s.split_id, h.lost FROM splits s JOIN hit h ON s.parent_split_id = h.split_id
)
SELECT split_id, bool_or(lost) AS lost FROM hit GROUP BY split_id ORDER BY split_id
"""


@dataclass(frozen=True)
class Erasure:
    erasure_id: int
    user_sha256: str
    counts: dict[str, int]  # rows deleted per table
    groundtruth_runs: list[str]  # made stale
    splits: list[str]  # held one of the user's intents (or derive from one that did)
    unusable_splits: list[str]  # lost an intent nobody else typed
    models: list[str]  # trained on one of ``splits``: an operator decides whether to retrain
    annotation_batches: list[str]  # lost a reality-check task
    duration_s: float


def user_sha256(*, user_id: str, salt: str) -> str:
    """The only form of a user id an erasure record keeps (``salt``: the record's, hex)."""
    return hashlib.sha256(bytes.fromhex(salt) + user_id.encode()).hexdigest()


def erase_user(*, engine: Engine, user_id: str, artifacts_dir: Path) -> Erasure:
    """Erase ``user_id`` in one transaction (module docstring) and record it; the split and model files under
    ``artifacts_dir`` are rewritten before the commit, so a failure leaves the database as it was."""
    if not user_id:
        raise ValueError("user_id must not be empty")
    t0 = time.perf_counter()
    with engine.begin() as conn:
        # Folds of the aggregates wait for the erasure, and it for them.
        xact_lock(conn, LockNamespace.GROUNDTRUTH_FOLD)
        u = {"u": user_id}
        for statement in _FIND.split(";"):
            if statement.strip():
                conn.execute(text(statement), u)
        first, newest = conn.execute(text(_SPAN)).one()
        unfolded = unfold(conn) if first is not None else None  # before the events it reads go
        counts = {table: conn.execute(text(sql), u).rowcount for table, sql in _EVENTS.items()}
        conn.execute(text(_PRIVATE))
        conn.execute(text(_KEYS), u)
        counts["failed_events"] = conn.execute(text(_DEAD_LETTERS)).rowcount
        stale = _groundtruth(conn, first=first, newest=newest, unfolded=unfolded, counts=counts)
        hit = [(r.split_id, r.lost) for r in conn.execute(text(_SPLITS))]
        splits = [s for s, _ in hit]
        unusable = [s for s, lost in hit if lost]
        counts["split_members"] = conn.execute(text(
            "DELETE FROM split_members WHERE intent IN (SELECT intent_norm FROM er_private)")).rowcount
        tasks = list(conn.execute(text(
            "DELETE FROM annotation_tasks WHERE intent IN (SELECT intent_norm FROM er_private) RETURNING batch_id"))
            .scalars())
        batches = sorted(set(tasks))
        counts["annotation_tasks"] = len(tasks)
        trained = {r.id: r for r in conn.execute(text("SELECT id, path, split_id FROM models ORDER BY id"))}
        models = [m for m, r in trained.items() if r.split_id in splits]
        private = set(conn.execute(text("SELECT intent_norm FROM er_private")).scalars())
        counts["private_intents"] = len(private)
        salt = secrets.token_hex(16)
        digest = user_sha256(user_id=user_id, salt=salt)
        duration = time.perf_counter() - t0
        erasure_id = conn.execute(text(
            "INSERT INTO erasures (user_sha256, salt, duration_s, counts, groundtruth_runs, splits, unusable_splits,"
            " models, annotation_batches) VALUES (:h, :salt, :d, CAST(:c AS jsonb), CAST(:g AS jsonb),"
            " CAST(:s AS jsonb), CAST(:us AS jsonb), CAST(:m AS jsonb), CAST(:b AS jsonb)) RETURNING id"),
            {"h": digest, "salt": salt, "d": duration, "c": json.dumps(counts), "g": json.dumps(stale),
             "s": json.dumps(splits), "us": json.dumps(unusable), "m": json.dumps(models),
             "b": json.dumps(batches)}).scalar_one()
        root = Path(artifacts_dir)
        files = {"split_rows": 0, "model_rows": 0,
                 "export_rows": scrub_exports(conn, user_id=user_id, erasure_id=erasure_id)}
        for split_id in splits:
            folder = root / "splits" / split_id
            files["split_rows"] += scrub_folder(
                folder, files=[folder / "train.jsonl", folder / "test.jsonl"], private=private,
                erasure_id=erasure_id, mark=split_id in unusable, note={"unusable": True})
        if private:
            files["model_rows"] = _scrub_models(root, trained=trained, private=private, splits=splits,
                                                unusable=unusable, erasure_id=erasure_id)
        if any(files.values()):
            counts.update(files)
            conn.execute(text("UPDATE erasures SET counts = CAST(:c AS jsonb) WHERE id = :i"),
                         {"c": json.dumps(counts), "i": erasure_id})
    return Erasure(erasure_id=erasure_id, user_sha256=digest, counts=counts, groundtruth_runs=stale, splits=splits,
                   unusable_splits=unusable, models=models, annotation_batches=batches,
                   duration_s=time.perf_counter() - t0)


def _groundtruth(conn: Connection, *, first: Any, newest: Any, unfolded: Unfold | None,
                 counts: dict[str, int]) -> list[str]:
    """Drop the private intents' versions, settle the aggregates the erased requests were taken out of
    (``groundtruth_unfold``) and make stale the runs that counted the user's evidence."""
    counts["groundtruth_picks"] = forget_picks(conn)
    if unfolded is not None:
        settle(conn, unfolded, newest_erased=newest)
        counts["groundtruth_candidates"] = unfolded.n_candidates
    if first is None:  # the user has no events: nothing counted them
        return []
    return sorted(conn.execute(text(
        "UPDATE groundtruth_runs SET status = 'stale' WHERE status = 'succeeded' AND watermark >= :first"
        " RETURNING run_id"), {"first": first}).scalars())


def _scrub_models(root: Path, *, trained: dict[str, Any], private: set[str], splits: list[str],
                  unusable: list[str], erasure_id: int) -> int:
    """Drop the private intents' rows from model folders: the test predictions of a model trained on a split that
    held them, and every model's evaluation on such a split (a production model is evaluated on a candidate's
    split); a model trained on an unusable split is marked. Returns the rows removed."""
    folders = {Path(r.path): r.split_id for r in trained.values() if r.path}
    models_dir = root / "models"
    if models_dir.is_dir():  # a folder whose model was never registered (`--no-register`) too
        folders.update({f: _lineage_split(f) for f in models_dir.iterdir() if f.is_dir() and f not in folders})
    removed = 0
    for folder, split_id in folders.items():
        files = [folder / "eval" / s / "predictions.jsonl" for s in splits]
        if split_id in splits:
            files.append(folder / "test_predictions.jsonl")
        removed += scrub_folder(folder, files=files, private=private, erasure_id=erasure_id,
                                mark=split_id in unusable, note={"retrain": True})
    return removed


def _lineage_split(folder: Path) -> str | None:
    """The split an unregistered model folder was trained on, from its lineage (None: unknown or unreadable)."""
    try:
        return json.loads((folder / "lineage.json").read_text()).get("split_id")
    except (OSError, ValueError, AttributeError):
        return None
