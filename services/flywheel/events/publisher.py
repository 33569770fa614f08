"""Kafka publisher for app events: acks=all, keyed by project_id (one project's events stay ordered), compressed."""

from __future__ import annotations

import json
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError


class PublishError(RuntimeError):
    pass


class EventPublisher:
    def __init__(self, bootstrap: str, topic: str, *, client_id: str = "flywheel-publisher",
                 linger_ms: int = 20, batch_size: int = 256 * 1024, compression: str = "gzip",
                 connect_timeout_s: float = 10.0) -> None:
        self.topic = topic
        self.bootstrap = bootstrap
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                client_id=client_id,
                acks="all",
                linger_ms=linger_ms,
                batch_size=batch_size,
                compression_type=compression,
                retries=5,
                max_in_flight_requests_per_connection=1,  # keep per-partition order across retries
                max_block_ms=int(connect_timeout_s * 1000),
                bootstrap_timeout_ms=int(connect_timeout_s * 1000),
            )
        except (KafkaError, OSError) as exc:
            raise PublishError(f"cannot reach Kafka at {bootstrap} (topic {topic}): {exc}") from exc
        self.sent = 0

    def publish(self, event: dict[str, Any]) -> Any:
        """Queue one event (asynchronous): returns the future (`.get(timeout)` waits for the broker's ack)."""
        key = event.get("project_id")
        if not isinstance(key, str) or not key:
            raise PublishError(f"event {event.get('event_id')} has no project_id (the Kafka key)")
        return self.publish_raw(key, event)

    def publish_raw(self, key: str | bytes | None, value: bytes | dict[str, Any] | None,
                    headers: list[tuple[str, bytes]] | None = None) -> Any:
        """Send bytes as they are (tests and replays of dead letters use this); a dict is JSON-encoded.

        Returns the send's future: after `flush()`, `future.get(timeout=0)` raises unless the broker acknowledged it.
        """
        # Serialized here rather than via the producer's key/value_serializer (deprecated in kafka-python 3).
        kb = key.encode("utf-8") if isinstance(key, str) else key
        vb = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode() if isinstance(value, dict) else value
        try:
            future = self._producer.send(self.topic, key=kb, value=vb, headers=headers)
        except (KafkaError, OSError, AssertionError) as exc:
            raise PublishError(f"publish to {self.topic} at {self.bootstrap} failed: {exc}") from exc
        self.sent += 1
        return future

    def flush(self, timeout_s: float = 60.0) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        except (KafkaError, OSError) as exc:
            raise PublishError(f"flush to {self.topic} at {self.bootstrap} failed: {exc}") from exc

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.flush()
        finally:
            self.close()
