"""Every Postgres advisory lock the platform takes: one namespace per use, all of them here.

A lock is the pair ``(namespace, key)`` of Postgres' two-``int4`` advisory-lock form: ``namespace`` says what is
locked (one :class:`LockNamespace` member per use, so two uses can never wait on each other by accident), ``key`` which
one of them (``hashtext`` of its id, or 0 when the lock guards one thing). ``@unique`` makes a second use of a
namespace value an import error.

Transaction-level locks (:func:`xact_lock`) are the rule: they are released when the caller's transaction ends, with
whatever it wrote. The session-level pair (:func:`session_lock`, :func:`session_unlock`) is for holding a lock across
transactions (tests hold one to line concurrent callers up behind it).
"""

from __future__ import annotations

from enum import IntEnum, unique
from typing import Any

from sqlalchemy import text


@unique
class LockNamespace(IntEnum):
    """Advisory-lock namespaces (int4); the comment says what one lock of the namespace serialises."""

    GROUNDTRUTH_RUN = 5_000_001
    """One ground-truth run id (key: its run id): a second run for the same watermark waits, then finds the first's."""
    GROUNDTRUTH_FOLD = 5_000_002
    """The ground-truth aggregates (key: none): folds and resets of them, one at a time."""
    SPLIT = 5_000_003
    """One split id (key: the split id): its rows are inserted once."""
    PROMOTION = 5_000_004
    """Promotions (key: none): read production, decide and write, one promotion at a time."""
    PARTITIONS = 5_000_010
    """The event tables' partitions (key: none): creating, moving rows into and dropping them (flywheel.db.partitions,
    flywheel.db.retention), one at a time."""


def _key(key_text: str | None) -> tuple[str, dict[str, Any]]:
    if key_text is None:
        return "0", {}
    return "hashtext(:key)", {"key": key_text}


def xact_lock(conn: Any, ns: LockNamespace, key_text: str | None = None) -> None:
    """Wait for the lock ``(ns, hashtext(key_text))`` (``(ns, 0)`` without a key) and hold it until the transaction
    of ``conn`` (a Connection or a Session) ends."""
    key, params = _key(key_text)
    conn.execute(text(f"SELECT pg_advisory_xact_lock(:ns, {key})"), {"ns": int(ns), **params})


def session_lock(conn: Any, ns: LockNamespace, key_text: str | None = None) -> None:
    """Wait for the lock and hold it until :func:`session_unlock` (or the connection closes)."""
    key, params = _key(key_text)
    conn.execute(text(f"SELECT pg_advisory_lock(:ns, {key})"), {"ns": int(ns), **params})


def session_unlock(conn: Any, ns: LockNamespace, key_text: str | None = None) -> bool:
    """Release a lock taken by :func:`session_lock`; False if this session did not hold it."""
    key, params = _key(key_text)
    return bool(conn.execute(text(f"SELECT pg_advisory_unlock(:ns, {key})"), {"ns": int(ns), **params}).scalar())
