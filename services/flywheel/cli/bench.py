"""`flywheel bench ingest / simulate / groundtruth / inference / train-gpu`: speed goals (measured, not tested)."""

from __future__ import annotations

import os

import typer
from rich.table import Table

from flywheel.cli.common import console, setup_logging
from flywheel.settings import get_settings
from flywheel.textable import print_table

app = typer.Typer(help="Benchmarks (speed and memory goals live here, not in tests).", no_args_is_help=True)


@app.command("ingest")
def ingest(
    events: int = typer.Option(200_000, help="Events to produce and ingest."),
    seed: int = typer.Option(None, help="Event stream seed (default: a fresh one, so every event is new)."),
    writers: int = typer.Option(2, help="Writers (Postgres connections)."),
    processes: bool = typer.Option(False, "--processes/--threads", help="Writers as child processes or threads."),
) -> None:
    """Consume-only rate vs full ingest rate (Kafka -> validate -> Postgres) on the same topic; their ratio."""
    setup_logging(False)
    from flywheel.ingest.bench import run_bench

    r = run_bench(get_settings(), events, seed=seed, writers=writers, processes=processes)
    typer.echo(f"events={r.events} produced in {r.produce_s:.1f}s; rows written={r.rows}")
    typer.echo(f"consume-only: {r.consume_only_rate:,.0f} events/s")
    typer.echo(f"ingest:       {r.ingest_rate:,.0f} events/s")
    typer.echo(f"ratio:        {r.ratio:.2f} (goal >= 0.90)")
    fmt = lambda d: ", ".join(f"{k} {v:.1f}" for k, v in sorted(d.items()))  # noqa: E731
    typer.echo(f"CPU us/event consume-only: {fmt(r.cpu_consume_us)}")
    typer.echo(f"CPU us/event ingest:       {fmt(r.cpu_ingest_us)}")
    typer.echo(f"cores: {os.cpu_count()}, load average now: {os.getloadavg()[0]:.1f}")


@app.command("simulate")
def simulate(
    intents: int = typer.Option(9252, "--intents", help="Paper scale: 9,252 intents, 27,756 responses."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Simulator throughput (events/s) at the paper's scale, into a throwaway topic."""
    import uuid

    from flywheel.simulator.run import simulate as _simulate

    s = get_settings()
    s = s.model_copy(update={"events_topic": f"bench.simulate.{uuid.uuid4().hex[:8]}"})
    r = _simulate(s, intents, 120.0, seed, progress=True)
    console.print(f"[green]✓[/] {r.events} events, {r.requests} responses over {r.unique_intents} intents in "
                  f"{r.seconds:.1f}s = [bold]{r.events_per_s:.0f} events/s[/] (topic {r.topic})")


@app.command("groundtruth")
def groundtruth(
    events: list[int] = typer.Option(None, "--events", help="Event counts (repeatable; default 1M and 10M)."),
    seed: int = typer.Option(0),
    keep: bool = typer.Option(False, help="Keep the scratch databases."),
    reuse: bool = typer.Option(False, help="Reuse kept scratch databases of the right size (skip loading)."),
    repeats: int = typer.Option(2, help="Time each stage this many times; the fastest counts."),
    validate: bool = typer.Option(False, help="Also time the GX gate (not part of the ratio)."),
) -> None:
    """Time ground truth + splits on bulk-loaded synthetic events; print the per-event cost ratio (goal <= 1.2)."""
    from flywheel.datasets.bench import bench_one, per_event_ratio

    s = get_settings()
    results = []
    for n in sorted(events or [1_000_000, 10_000_000]):
        with console.status(f"{n:,} events ...") as st:
            results.append(bench_one(s, n, seed=seed, keep=keep or reuse, validate=validate, repeats=repeats,
                                     reuse=reuse, progress=lambda msg, st=st: st.update(msg)))
        r = results[-1]
        console.print(f"[green]✓[/] {r.events:,} events ({r.requests:,} requests, {r.gt_intents:,} intents): "
                      f"load {r.load_s:.1f}s, ground truth {r.groundtruth_s:.1f}s, split {r.split_s:.1f}s"
                      + (f", GX {r.validate_s:.1f}s" if validate else "")
                      + f" -> {r.per_million_s:.2f}s per 1M events")
    t = Table(title="bench groundtruth (ground truth + split)")
    for c in ("events", "ground truth s", "split s", "total s", "s / 1M events"):
        t.add_column(c, justify="right")
    for r in results:
        t.add_row(f"{r.events:,}", f"{r.groundtruth_s:.2f}", f"{r.split_s:.2f}", f"{r.cost_s:.2f}",
                  f"{r.per_million_s:.2f}")
    print_table(console, t)
    ratio = per_event_ratio(results)
    if ratio is not None:
        mark = "[green]✓[/]" if ratio <= 1.2 else "[yellow]![/]"
        console.print(f"{mark} per-event cost ratio {results[-1].events:,} / {results[0].events:,}: "
                      f"[bold]{ratio:.2f}[/] (goal <= 1.2)")


@app.command("inference")
def inference(
    model: str | None = typer.Option(None, "--model", help="model id or folder (default: production model)"),
    requests: int = typer.Option(100, "--requests", help="single requests to time"),
    batch_size: int = typer.Option(64, "--batch-size"),
    teacher_seed: int = typer.Option(0, "--teacher-seed", help="simulator seed of the in-process teacher-server"),
    threads: int = typer.Option(1, "--threads", help="torch threads for the student"),
) -> None:
    """Student p50/p95 per request and batch throughput, beside the teacher-server round trip (same run)."""
    from flywheel.bench.inference import bench_inference, print_bench
    from flywheel.registry.store import resolve_model_dir

    s = get_settings()
    print_bench(bench_inference(s, resolve_model_dir(model, s), requests=requests, batch_size=batch_size,
                                teacher_seed=teacher_seed, threads=threads))


@app.command("train-gpu")
def train_gpu(
    split: str = typer.Option(..., "--split", help="split id (paper scale: simulate --intents 9252, 1,000 test)"),
    config: str = typer.Option(None, "--config", help="GPU student TrainConfig (default: configs/smollm2-full.json)"),
    baseline: str = typer.Option(None, "--baseline", help="baseline TrainConfig (default: configs/tiny-cpu.json)"),
    requests: int = typer.Option(200, "--requests", help="single requests timed for p50/p95 latency"),
    register: bool = typer.Option(False, "--register", help="register both models (and log them to MLflow)"),
    allow_cpu: bool = typer.Option(False, "--allow-cpu", help="run without a GPU (slow; for trying the command)"),
) -> None:
    """Fine-tune a pretrained student on one GPU through the training entry, beside the tiny student on the same
    split: wall time, tokens/s, peak GPU memory, RQ1 (All / r_3 / r_5), p50/p95 latency."""
    from pathlib import Path

    from flywheel.bench.train_gpu import bench_train_gpu, print_bench

    print_bench(bench_train_gpu(get_settings(), split, config=Path(config) if config else None,
                                baseline=Path(baseline) if baseline else None, requests=requests,
                                register=register, allow_cpu=allow_cpu))
