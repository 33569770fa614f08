"""CPU accounting for the benchmark: where the seconds go (this process, Postgres backends, the broker).

Rates alone hide the cause on small machines: ingest does strictly more work per event than consume-only (validation
and Postgres), so when cores are scarce the ratio is bounded by CPU, not by the pipeline's overlap.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import psutil


def _cpu(p: psutil.Process) -> float | None:
    try:
        t = p.cpu_times()
        return t.user + t.system
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


@dataclass
class CpuMeter:
    """Samples a process tree; per pid keeps the last seen CPU time, so exited backends still count."""

    roots: dict[str, int]  # label -> pid (its children count under the same label)
    every_s: float = 0.25
    _start: dict[tuple[str, int], float] = field(default_factory=dict)
    _last: dict[tuple[str, int], float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _sample(self, first: bool = False) -> None:
        for label, pid in self.roots.items():
            try:
                root = psutil.Process(pid)
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
            for p in procs:
                c = _cpu(p)
                if c is None:
                    continue
                key = (label, p.pid)
                if first or key not in self._start:
                    self._start.setdefault(key, c if first else 0.0)
                self._last[key] = c

    defer: bool = False  # True: the sampling thread waits for start(), e.g. until a service has forked its workers

    def __enter__(self) -> CpuMeter:
        self._sample(first=True)
        if not self.defer:
            self.start()
        return self

    def start(self) -> None:
        """Start sampling (processes that exit before the next sample keep their last seen CPU time)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, daemon=True, name="cpu-meter")
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for (label, pid), last in self._last.items():
            out[label] = out.get(label, 0.0) + max(last - self._start.get((label, pid), 0.0), 0.0)
        return out
