"""Two promotions at once (threads, real Postgres): the loser compares against the winner, every decision is stored."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from flywheel.db.locks import LockNamespace, session_lock, session_unlock
from flywheel.registry.store import decisions, get_model, production_model, promote
from tests.test_registry import fake, register


def _waiting_on_lock(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar()


def test_two_concurrent_promotions_compare_against_each_other(settings, engine, tmp_path) -> None:
    s = settings.model_copy(update={"promotion_margin": 0.02, "promotion_floor": 0.30})
    for model_id, overall in (("p-old", 0.60), ("c-best", 0.70), ("c-good", 0.65)):
        register(engine, fake(tmp_path, model_id, overall, split_id="s3"))
    assert promote(s, "p-old").promoted
    results: dict[str, object] = {}

    def run(model_id: str) -> None:
        try:
            results[model_id] = promote(s, model_id)
        except Exception as exc:  # noqa: BLE001 - a crash is what this test must catch
            results[model_id] = exc

    # Hold the promotion lock so both promotions read and decide against p-old, then race for the write.
    with engine.connect() as holder:
        session_lock(holder, LockNamespace.PROMOTION)
        threads = [threading.Thread(target=run, args=(m,)) for m in ("c-best", "c-good")]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while _waiting_on_lock(engine) < 2:
            assert time.monotonic() < deadline, "both promotions should be waiting for the lock"
            time.sleep(0.05)
        session_unlock(holder, LockNamespace.PROMOTION)
    for t in threads:
        t.join(60)
    assert all(not isinstance(r, Exception) for r in results.values()), results
    # Whoever wrote first, the better model ends in production and was compared with what it replaced.
    assert production_model(s).model_id == "c-best"
    assert get_model(s, "p-old").status == "retired"
    stored = [d for d in decisions(s) if d["model_id"] in ("c-best", "c-good")]
    assert sorted(d["model_id"] for d in stored) == ["c-best", "c-good"]  # one stored decision each
    chain = ["p-old"]
    for d in stored:  # in the order they were written
        assert d["production_model_id"] == chain[-1], (d, chain)
        if d["promoted"]:
            chain.append(d["model_id"])
    assert chain[-1] == "c-best"
    loser = stored[-1]
    assert loser["production_model_id"] == stored[0]["model_id"]  # the loser was compared against the winner
