"""Per-arm latency (p50/p95 over a rolling window), request counters and redactions per kind, in Prometheus text
format and in the logs."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger("flywheel.assistant")

WINDOW = 5000  # latencies kept per arm
LOG_EVERY = 100  # requests per arm between latency log lines


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile (what p50/p95 mean in latency reports)."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, int(round(q * len(sorted_values) + .5)) - 1))
    return sorted_values[k]


class LatencyTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lat: dict[str, deque[float]] = defaultdict(lambda: deque(maxlen=WINDOW))
        self._n: dict[str, int] = defaultdict(int)
        self.registry = CollectorRegistry()
        self.requests = Counter("flywheel_assistant_requests", "Requests by arm and outcome", ["arm", "status"],
                                registry=self.registry)
        # reason: the kind of StudentFailed (student_load_error, student_error, student_contract): a few values.
        self.fallbacks = Counter("flywheel_assistant_fallbacks", "Requests of an arm the teacher served because its "
                                 "student could not", ["arm", "reason"], registry=self.registry)
        # kind: one of flywheel.privacy.KINDS (email, url, iban, card, ip, phone, number); placeholders made.
        self.redactions = Counter("flywheel_assistant_redactions", "Private items in intents replaced by a "
                                  "placeholder, by kind", ["kind"], registry=self.registry)
        self.registry.register(_QuantileCollector(self))

    def count_redactions(self, counts: dict[str, int]) -> None:
        for kind, n in counts.items():
            self.redactions.labels(kind=kind).inc(n)

    def observe(self, arm: str, latency_ms: float) -> None:
        with self._lock:
            self._lat[arm].append(latency_ms)
            self._n[arm] += 1
            n = self._n[arm]
        if n % LOG_EVERY == 0:
            s = self.summary()[arm]
            log.info("latency arm=%s n=%d p50=%.1fms p95=%.1fms", arm, n, s["p50_ms"], s["p95_ms"])

    def summary(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            snap = {arm: (sorted(v), self._n[arm]) for arm, v in self._lat.items()}
        return {arm: {"n": n, "p50_ms": quantile(v, .5), "p95_ms": quantile(v, .95)} for arm, (v, n) in snap.items()}

    def prometheus_text(self) -> bytes:
        return generate_latest(self.registry)


class _QuantileCollector:
    def __init__(self, tracker: LatencyTracker) -> None:
        self.tracker = tracker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        g = GaugeMetricFamily("flywheel_assistant_latency_ms", "Request latency per arm over the last requests",
                              labels=["arm", "quantile"])
        for arm, s in self.tracker.summary().items():
            g.add_metric([arm, "0.5"], s["p50_ms"])
            g.add_metric([arm, "0.95"], s["p95_ms"])
        yield g
