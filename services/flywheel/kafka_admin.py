"""Topic administration. Topics are always created explicitly (broker auto-create picks its own partition count).

They are created with ``retention.ms`` = :data:`TOPIC_RETENTION_MS` (7 days): raw events, user ids and intents
included, leave the log within a week, which is what covers an erased user's records in Kafka (docs/domain.md#erasure).
A broker that refuses topic configs (the embedded Tansu may) gets the topic without it, and its own default applies
(Kafka's is 7 days too); a topic that already exists keeps its settings (``kafka-configs --alter`` changes them)."""

from __future__ import annotations

import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

TOPIC_RETENTION_MS = 7 * 24 * 3600 * 1000


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


def ensure_topics(bootstrap: str, topics: dict[str, int], replication: int = 1,
                  retention_ms: int | None = TOPIC_RETENTION_MS) -> list[str]:
    """Create the topics that do not exist yet (with ``retention_ms``, see the module docstring). Returns the names
    created by this call."""
    admin = admin_client(bootstrap)
    configs = {"retention.ms": str(retention_ms)} if retention_ms else {}
    try:
        existing = set(admin.list_topics())
        created = []
        for name, partitions in topics.items():
            if name in existing:
                continue
            try:
                try:
                    admin.create_topics([NewTopic(name=name, num_partitions=partitions, replication_factor=replication,
                                                  topic_configs=configs)])
                except TopicAlreadyExistsError:
                    raise
                except KafkaError:
                    if not configs:
                        raise
                    admin.create_topics([NewTopic(name=name, num_partitions=partitions,
                                                  replication_factor=replication)])
                created.append(name)
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
