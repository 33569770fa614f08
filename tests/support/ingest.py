"""Helpers to drive `flywheel ingest` as a real process and to check what landed (tests, chaos drills, demo)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flywheel.ingest.sink import libpq_url
from flywheel.kafka_admin import ensure_topics

EVENT_TABLES = {"project_started": "projects", "intent_submitted": "intents", "assistant_responded": "responses",
                "tool_exported": "tool_exports", "project_exported": "project_exports"}


def fresh_topics(settings: Any, name: str, **over: object) -> Any:
    """Settings with topics and a consumer group of their own (one test or drill; the database may be shared)."""
    tag = f"{name}.{uuid.uuid4().hex[:6]}"
    s = settings.model_copy(update={"events_topic": f"ev.{tag}", "dead_letter_topic": f"dlq.{tag}",
                                    "ingest_group": f"g.{tag}", **over})
    ensure_topics(s.bootstrap(), {s.events_topic: 4, s.dead_letter_topic: 2})
    return s


def ingest_env(settings: Any, **extra: str) -> dict[str, str]:
    """Environment that points a child `flywheel` at the same database, broker, topics and group."""
    env = dict(os.environ)
    env.update({
        "FLYWHEEL_DATABASE_URL": settings.db_url(),
        "FLYWHEEL_KAFKA_BOOTSTRAP": settings.bootstrap(),
        "FLYWHEEL_EVENTS_TOPIC": settings.events_topic,
        "FLYWHEEL_DEAD_LETTER_TOPIC": settings.dead_letter_topic,
        "FLYWHEEL_INGEST_GROUP": settings.ingest_group,
        "FLYWHEEL_SCHEMAS_DIR": str(settings.schemas_dir),
        "FLYWHEEL_KAFKA_SESSION_TIMEOUT_MS": str(settings.kafka_session_timeout_ms),
        **extra,
    })
    return env


def start_ingest(settings: Any, args: Iterable[str], log_path: Path) -> subprocess.Popen[bytes]:
    """`flywheel ingest ARGS` in a child process; stdout and stderr go to `log_path` (appended)."""
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it; closed when the Popen is collected
    return subprocess.Popen([sys.executable, "-m", "flywheel.cli.main", "ingest", *args],
                            env=ingest_env(settings), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def produce(settings: Any, items: Iterable[tuple[bytes | None, bytes | None]], rate: float | None = None) -> int:
    """Publish (key, value) pairs to the events topic, optionally paced at `rate` per second. Returns the count."""
    from flywheel.events.publisher import EventPublisher

    n = 0
    t0 = time.monotonic()
    with EventPublisher(settings.bootstrap(), settings.events_topic, client_id="harness", linger_ms=5) as pub:
        for key, value in items:
            pub.publish_raw(key, value)
            n += 1
            if rate:
                ahead = n / rate - (time.monotonic() - t0)
                if ahead > 0:
                    pub.flush()
                    time.sleep(ahead)
    return n


def produce_in_background(settings: Any, items: list[tuple[bytes | None, bytes | None]],
                          rate: float) -> threading.Thread:
    th = threading.Thread(target=produce, args=(settings, items, rate), name="harness-producer", daemon=True)
    th.start()
    return th


def landed(settings: Any, event_ids: Iterable[str]) -> dict[str, int]:
    """How many of `event_ids` are in each event table (a row per event; duplicates are impossible by PK)."""
    import psycopg

    ids = list(event_ids)
    out = {}
    with psycopg.connect(libpq_url(settings.db_url())) as conn:
        for table in EVENT_TABLES.values():
            row = conn.execute(f"SELECT count(*) FROM {table} WHERE event_id = ANY(%s::uuid[])", (ids,)).fetchone()
            out[table] = row[0] if row else 0
    return out


def failed_rows(settings: Any, topic: str) -> list[tuple[int, int, str, bytes | None]]:
    """(partition, offset, reason, raw) of failed_events from one source topic."""
    import psycopg

    with psycopg.connect(libpq_url(settings.db_url())) as conn:
        rows = conn.execute("SELECT kafka_partition, kafka_offset, reason, raw FROM failed_events "
                            "WHERE kafka_topic = %s ORDER BY kafka_partition, kafka_offset", (topic,)).fetchall()
    return [(p, o, r, bytes(raw) if raw is not None else None) for p, o, r, raw in rows]
