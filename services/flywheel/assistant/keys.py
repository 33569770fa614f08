"""Assistant API keys: `fwk_<id>_<secret>`, stored as a sha256 only, scoped to one app, revocable.

The caller owns the session and the transaction (`flywheel.db` rule). The key itself is returned once, by
`create_key`, and never stored or logged.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from flywheel.db.keys import ApiKey
from flywheel.errors import NotFound, UsageError

PREFIX = "fwk"


@dataclass(frozen=True)
class KeyInfo:
    id: str
    app: str
    rate_per_minute: int
    teacher_calls_per_day: int


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def create_key(session: Session, *, app: str, note: str = "", rate_per_minute: int = 120,
               teacher_calls_per_day: int = 2000) -> tuple[str, str]:
    """A new key for `app`. Returns (key id, the key) — the key is shown this once and stored only hashed."""
    if not app or len(app) > 64:
        raise UsageError("app must be 1-64 characters")
    if rate_per_minute < 1 or teacher_calls_per_day < 0:
        raise UsageError("rate_per_minute must be >= 1 and teacher_calls_per_day >= 0")
    key_id = secrets.token_hex(6)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(24)}"
    session.add(ApiKey(id=key_id, key_hash=hash_key(key), app=app, note=note, rate_per_minute=rate_per_minute,
                       teacher_calls_per_day=teacher_calls_per_day))
    session.flush()
    return key_id, key


def revoke_key(session: Session, *, key_id: str) -> None:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id!r}")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
    session.flush()


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def lookup(session: Session, *, key: str) -> KeyInfo | None:
    """The live key matching `key`, or None (unknown or revoked)."""
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)))
    if row is None:
        return None
    return KeyInfo(row.id, row.app, row.rate_per_minute, row.teacher_calls_per_day)


def reserve_teacher_calls(session: Session, *, key_id: str, calls: int, limit: int, day: date | None = None) -> bool:
    """Count `calls` paid teacher calls against today's budget; False (nothing counted) when it would exceed it."""
    day = day or datetime.now(UTC).date()
    got = session.execute(text(
        "INSERT INTO api_key_usage (key_id, day, requests, teacher_calls) VALUES (:k, :d, 1, :n) "
        "ON CONFLICT (key_id, day) DO UPDATE SET requests = api_key_usage.requests + 1, "
        "teacher_calls = api_key_usage.teacher_calls + :n WHERE api_key_usage.teacher_calls + :n <= :limit "
        "RETURNING teacher_calls"), {"k": key_id, "d": day, "n": calls, "limit": limit}).first()
    return got is not None and got[0] <= limit
