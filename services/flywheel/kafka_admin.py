"""Topic administration. Topics are always created explicitly (broker auto-create picks its own partition count)."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError


class KafkaUnavailable(RuntimeError):
    pass


def admin_client(bootstrap: str, timeout_s: float = 20.0) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="flywheel-admin", request_timeout_ms=10000)
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.3)
    raise KafkaUnavailable(f"no Kafka broker answered at {bootstrap} within {timeout_s:.0f}s: {last}")


def ensure_topics(bootstrap: str, topics: dict[str, int], replication: int = 1) -> list[str]:
    """Create the topics that do not exist yet. Returns the names created by this call."""
    admin = admin_client(bootstrap)
    try:
        existing = set(admin.list_topics())
        todo = [NewTopic(name=t, num_partitions=p, replication_factor=replication)
                for t, p in topics.items() if t not in existing]
        created = []
        for nt in todo:
            try:
                admin.create_topics([nt])
                created.append(nt.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


def list_topics(bootstrap: str) -> list[str]:
    admin = admin_client(bootstrap)
    try:
        return sorted(admin.list_topics())
    finally:
        admin.close()


def delete_topics(bootstrap: str, names: list[str]) -> None:
    admin = admin_client(bootstrap)
    try:
        existing = set(admin.list_topics())
        gone = [n for n in names if n in existing]
        if gone:
            admin.delete_topics(gone)
    finally:
        admin.close()
