"""Advisory locks: one namespace per use, all declared in flywheel.db.locks, and locks of different namespaces
never wait on each other (real Postgres)."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

import flywheel
from flywheel.db.locks import LockNamespace, session_lock, session_unlock, xact_lock

PACKAGE = Path(flywheel.__file__).parent


def test_each_use_has_its_own_namespace() -> None:
    values = [m.value for m in LockNamespace]
    assert len(values) == len(set(values)), values  # @unique also refuses an alias at import
    assert len(LockNamespace.__members__) == len(values)  # no alias slipped through
    assert all(-(2**31) <= v < 2**31 for v in values)  # the two-int4 form of pg_advisory_*lock


def test_no_advisory_lock_is_taken_outside_the_locks_module() -> None:
    found = [f"{p.relative_to(PACKAGE)}:{n}" for p in sorted(PACKAGE.rglob("*.py")) if p.name != "locks.py"
             for n, line in enumerate(p.read_text().splitlines(), 1) if re.search(r"pg_(try_)?advisory", line)]
    found += [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.sql") if "pg_advisory" in p.read_text()]
    assert found == [], f"advisory locks outside flywheel/db/locks.py: {found}"


def test_namespaces_do_not_block_each_other(engine) -> None:
    with engine.connect() as holder:
        session_lock(holder, LockNamespace.GROUNDTRUTH_FOLD)
        session_lock(holder, LockNamespace.SPLIT, "some-split")
        try:
            with engine.begin() as other:  # another namespace, or another key of the same namespace: no wait
                other.execute(text("SET LOCAL lock_timeout = '2s'"))
                xact_lock(other, LockNamespace.SPLIT, "another-split")
                xact_lock(other, LockNamespace.GROUNDTRUTH_RUN, "some-split")
                xact_lock(other, LockNamespace.PROMOTION)
                held = other.execute(text("SELECT pg_try_advisory_xact_lock(:ns, 0)"),
                                     {"ns": int(LockNamespace.GROUNDTRUTH_FOLD)}).scalar()
                assert held is False  # the same lock is held by the other session
        finally:
            assert session_unlock(holder, LockNamespace.SPLIT, "some-split")
            assert session_unlock(holder, LockNamespace.GROUNDTRUTH_FOLD)
