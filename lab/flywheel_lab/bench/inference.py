"""`flywheel bench inference`: student latency (p50/p95 per single request, batch throughput) beside the
teacher-server round trip measured in the same run (the simulator's in-process teacher-server on a free port). Any
student family (the model card says which; the row is labelled with the model's name)."""

from __future__ import annotations

import json
import statistics
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from flywheel.inference.predictor import load_predictor
from flywheel.runtime.proc import free_port
from flywheel.teacher.client import TeacherClient
from flywheel.textable import print_table
from flywheel_lab.simulator.teacher_server import create_app
from flywheel_lab.simulator.world import build_world

FALLBACK_INTENTS = ["golden hour", "cool morning", "moody night", "vintage film", "bright summer beach",
                    "cinematic teal and orange", "soft pastel portrait", "dark forest", "neon city", "faded retro"]


@dataclass
class BenchResult:
    model_dir: str
    requests: int
    student_p50_ms: float
    student_p95_ms: float
    batch_size: int
    batch_intents_per_s: float
    model_name: str = "student"
    teacher_p50_ms: float | None = None
    teacher_p95_ms: float | None = None
    notes: list[str] = field(default_factory=list)


def _pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def _intents(model_dir: Path, n: int) -> list[str]:
    lineage = model_dir / "lineage.json"
    rows: list[str] = []
    if lineage.is_file():
        test = Path(json.loads(lineage.read_text()).get("split_path", "")) / "test.jsonl"
        if test.is_file():
            rows = [json.loads(line)["intent"] for line in test.read_text().splitlines() if line.strip()]
    rows = rows or FALLBACK_INTENTS
    return [rows[i % len(rows)] for i in range(n)]


def _teacher_latencies(settings: Any, intents: list[str], seed: int, notes: list[str]) -> list[float] | None:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(build_world(seed)), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 30
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        client = TeacherClient(settings.model_copy(update={"openai_base_url": f"http://127.0.0.1:{port}/v1"}))
        client.respond(intents[0])  # warm-up (connection, first request)
        out = []
        for intent in intents:
            t0 = time.perf_counter()
            client.respond(intent)
            out.append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def bench_inference(settings: Any, model_dir: str | Path, requests: int = 100, batch_size: int = 64,
                    teacher_seed: int = 0, threads: int = 1) -> BenchResult:
    d = Path(model_dir)
    predictor = load_predictor(d, batch_size=batch_size * 3, num_threads=threads)
    intents = _intents(d, max(requests, batch_size * 4))
    predictor.predict_one(intents[0])  # warm-up
    single = []
    for intent in intents[:requests]:
        t0 = time.perf_counter()
        predictor.predict_one(intent)
        single.append((time.perf_counter() - t0) * 1000)
    batch = intents[:batch_size * 4]
    t0 = time.perf_counter()
    predictor.predict(batch)
    throughput = len(batch) / (time.perf_counter() - t0)
    res = BenchResult(str(d), requests, statistics.median(single), _pct(single, 0.95), batch_size, throughput,
                      model_name=predictor.model_name)
    teacher = _teacher_latencies(settings, intents[:requests], teacher_seed, res.notes)
    if teacher:
        res.teacher_p50_ms, res.teacher_p95_ms = statistics.median(teacher), _pct(teacher, 0.95)
    return res


def print_bench(r: BenchResult) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Inference latency ({r.requests} single requests; batch of {r.batch_size * 4} intents)")
    for col in ("", "p50 ms / request", "p95 ms / request", "batch intents/s"):
        t.add_column(col, justify="right")
    t.add_row(r.model_name, f"{r.student_p50_ms:.1f}", f"{r.student_p95_ms:.1f}", f"{r.batch_intents_per_s:.1f}")
    if r.teacher_p50_ms is not None:
        t.add_row("teacher-server", f"{r.teacher_p50_ms:.1f}", f"{r.teacher_p95_ms:.1f}", "-")
    console = Console()
    print_table(console, t)
    for n in r.notes:
        console.print(f"[yellow]{n}[/]")
