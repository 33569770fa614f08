"""`flywheel bench ingest / simulate / groundtruth / inference / render / train-gpu / redact / erase / retention`:
speed goals (not tested)."""

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
    processes: bool = typer.Option(None, "--processes/--threads", show_default=False,
                                   help="Writers as child processes or threads [default: as `flywheel ingest`]."),
) -> None:
    """Full ingest (Kafka -> validate -> Postgres) vs a minimal peer loop (consume, COPY jsonb, commit) on the same
    topic in the same run: events/s, their ratio (goal >= 0.8) and CPU us/event (goal <= 50 in total)."""
    setup_logging(False)
    from flywheel_lab.bench.ingest import run_bench

    r = run_bench(get_settings(), events, seed=seed, writers=writers, processes=processes)
    typer.echo(f"events={r.events} produced in {r.produce_s:.1f}s; rows written={r.rows}")
    typer.echo(f"peer loop:    {r.peer_rate:,.0f} events/s (consume, COPY jsonb, commit)")
    typer.echo(f"ingest:       {r.ingest_rate:,.0f} events/s ({r.writers} as writers)")
    typer.echo(f"ratio:        {r.ratio:.2f} (goal >= 0.80)")
    fmt = lambda d: ", ".join(f"{k} {v:.1f}" for k, v in sorted(d.items())) + f"; total {sum(d.values()):.1f}"  # noqa: E731
    typer.echo(f"CPU us/event peer loop: {fmt(r.cpu_peer_us)}")
    typer.echo(f"CPU us/event ingest:    {fmt(r.cpu_ingest_us)} (goal <= 50)")
    typer.echo(f"cores: {os.cpu_count()}, load average now: {os.getloadavg()[0]:.1f}")


@app.command("simulate")
def simulate(
    intents: int = typer.Option(9252, "--intents", help="Paper scale: 9,252 intents, 27,756 responses."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Simulator throughput (events/s) at the paper's scale, into a throwaway topic."""
    import uuid

    from flywheel_lab.simulator.run import simulate as _simulate

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
    new_events: int = typer.Option(100_000, help="New events for the incremental run (0 = skip it)."),
    history_days: float = typer.Option(120, help="Days of occurred_at the history spreads over (monthly partitions)."),
) -> None:
    """Time the full ground truth + splits on bulk-loaded synthetic events (per-event cost ratio, goal <= 1.2), then
    an incremental run over that history + new events (goal <= 2 s at 10M + 100k)."""
    from flywheel_lab.bench.groundtruth import bench_one, per_event_ratio

    s = get_settings()
    results = []
    for n in sorted(events or [1_000_000, 10_000_000]):
        with console.status(f"{n:,} events ...") as st:
            results.append(bench_one(s, n, seed=seed, keep=keep or reuse, validate=validate, repeats=repeats,
                                     reuse=reuse, new_events=new_events, history_days=history_days,
                                     progress=lambda msg, st=st: st.update(msg)))
        r = results[-1]
        console.print(f"[green]✓[/] {r.events:,} events ({r.requests:,} requests, {r.gt_intents:,} intents): "
                      f"load {r.load_s:.1f}s, ground truth {r.groundtruth_s:.1f}s, split {r.split_s:.1f}s"
                      + (f", GX {r.validate_s:.1f}s" if validate else "")
                      + f" -> {r.per_million_s:.2f}s per 1M events")
    t = Table(title="bench groundtruth (full ground truth + split; incremental run over history + new events)")
    for c in ("events", "full gt s", "split s", "total s", "s / 1M events", "first incremental s", "+ new events",
              "touched intents", "incremental s", "(fold s", "re-pick s)", "= full"):
        t.add_column(c, justify="right")
    for r in results:
        t.add_row(f"{r.events:,}", f"{r.groundtruth_s:.2f}", f"{r.split_s:.2f}", f"{r.cost_s:.2f}",
                  f"{r.per_million_s:.2f}", f"{r.first_fold_s:.2f}", f"{r.new_events:,}",
                  f"{r.incremental_intents:,}", f"{r.incremental_s:.2f}", f"{r.incremental_fold_s:.2f}",
                  f"{r.incremental_repick_s:.2f}", "yes" if r.incremental_rows else ("-" if not r.new_events else "NO"))
    print_table(console, t)
    for r in results:
        if r.incremental_nights_s:
            console.print(f"  {r.events:,} events: incremental runs night by night (+{r.new_events:,} events each): "
                          + ", ".join(f"{x:.2f}s" for x in r.incremental_nights_s) + " (the table shows the fastest)")
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
    from flywheel.registry.store import resolve_model_dir
    from flywheel_lab.bench.inference import bench_inference, print_bench

    s = get_settings()
    print_bench(bench_inference(s, resolve_model_dir(model, s), requests=requests, batch_size=batch_size,
                                teacher_seed=teacher_seed, threads=threads))


@app.command("render")
def render(
    side: int = typer.Option(1024, "--side", help="the photo is scaled to side x side"),
    repeats: int = typer.Option(30, "--repeats"),
    photo: str = typer.Option("astronaut", "--photo"),
) -> None:
    """render() with every tool active on one core: median / p95 wall and CPU milliseconds (aim <= 50 ms)."""
    from flywheel_lab.bench.render import bench_render

    r = bench_render(side=side, repeats=repeats, photo=photo)
    for key in ("render", "render_cpu", "render_cpu_lut_cached", "lut_build", "lut_apply"):
        v = r[key]
        typer.echo(f"{key:<22} median {v['median_ms']:7.2f} ms   p95 {v['p95_ms']:7.2f} ms   min {v['min_ms']:7.2f} ms")
    typer.echo(f"{r['image']}, {r['repeats']} repeats; cores {os.cpu_count()}, load {os.getloadavg()[0]:.1f}")


@app.command("train-gpu")
def train_gpu(
    split: str = typer.Option(..., "--split", help="split id (paper scale: simulate --intents 9252, 1,000 test)"),
    config: str = typer.Option(None, "--config", help="GPU student TrainConfig (default: configs/smollm2-full.json)"),
    baseline: str = typer.Option(None, "--baseline",
                                 help="baseline TrainConfig (default: configs/ngram-cpu.json, the default student)"),
    requests: int = typer.Option(200, "--requests", help="single requests timed for p50/p95 latency"),
    register: bool = typer.Option(False, "--register", help="register both models (and log them to MLflow)"),
    allow_cpu: bool = typer.Option(False, "--allow-cpu", help="run without a GPU (slow; for trying the command)"),
) -> None:
    """Fine-tune a pretrained student on one GPU through the training entry, beside the tiny student on the same
    split: wall time, tokens/s, peak GPU memory, RQ1 (All / r_3 / r_5), p50/p95 latency."""
    from pathlib import Path

    from flywheel_lab.bench.train_gpu import bench_train_gpu, print_bench

    print_bench(bench_train_gpu(get_settings(), split, config=Path(config) if config else None,
                                baseline=Path(baseline) if baseline else None, requests=requests,
                                register=register, allow_cpu=allow_cpu))


@app.command("students")
def students(
    split: str = typer.Option(..., "--split", help="a split folder (train.jsonl, test.jsonl, meta.json)"),
    config: list[str] = typer.Option(None, "--config", help=(
        "NAME=CONFIG, repeatable: CONFIG is a preset name (configs/NAME.json) or a TrainConfig file "
        "[default: every CPU family: ngram-cpu, encoder-cpu, smollm2-cpu]")),
    world_seed: int = typer.Option(None, "--world-seed", help=(
        "the simulator seed the split's traffic came from (the demo's: 7): adds the canonical vs held-out wording "
        "sets, scored against the hidden ideal")),
    eval_rows: list[str] = typer.Option(None, "--eval-rows", help="NAME=N: score only N rows per set (slow families)"),
    requests: int = typer.Option(200, "--requests", help="single requests timed for p50/p95 latency"),
    trained: list[str] = typer.Option(None, "--trained", help=(
        "NAME=DIR: measure a checkpoint already trained on this split with NAME's config instead of training")),
    out: str = typer.Option(None, "--out", help="folder for the models, students.json and the plot"),
) -> None:
    """Every student family on the same split through `python -m flywheel.training`'s train(): train time, RQ1 All /
    novel / canonical vs held-out wording, p50/p95 per request on one thread, intents/s batched; plotted."""
    import tempfile
    from pathlib import Path

    from flywheel.training.config import PRESETS, train_config_from_file
    from flywheel_lab.bench.students import plot_students, run_students

    specs = config or ["ngram=ngram-cpu", "encoder=encoder-cpu", "smollm2=smollm2-cpu"]
    configs = []
    for spec in specs:
        name, _, ref = spec.partition("=")
        if not ref:
            raise typer.BadParameter(f"--config {spec!r}: expected NAME=CONFIG")
        path = Path(ref) if Path(ref).is_file() else PRESETS / f"{ref}.json"
        if not path.is_file():
            raise typer.BadParameter(f"--config {spec!r}: no file {ref} and no preset {path.name}")
        configs.append((name, train_config_from_file(path)))
    limits: dict[str, int | None] = {}
    for spec in eval_rows or []:
        name, _, n = spec.partition("=")
        if not n.isdigit():
            raise typer.BadParameter(f"--eval-rows {spec!r}: expected NAME=N")
        limits[name] = int(n)
    done = {}
    for spec in trained or []:
        name, _, d = spec.partition("=")
        if not (Path(d) / "lineage.json").is_file():
            raise typer.BadParameter(f"--trained {spec!r}: expected NAME=DIR of a trained checkpoint")
        done[name] = Path(d)
    out_dir = Path(out) if out else Path(tempfile.mkdtemp(prefix="bench-students-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = run_students(split_path=Path(split), configs=configs, out_dir=out_dir, world_seed=world_seed,
                        eval_rows=limits, latency_requests=requests, trained=done, progress=True)
    table = Table(title=f"student families on {split}")
    for col in ("family", "train s", "RQ1 All", "novel (n)", "canonical", "held-out", "held/canon", "p50 ms",
                "p95 ms", "intents/s", "invalid"):
        table.add_column(col, justify="right")
    f = lambda x: "n/a" if x is None else f"{x:.3f}"  # noqa: E731
    for r in rows:
        table.add_row(r.name, f"{r.train_seconds:.0f}", f(r.rq1_all), f"{f(r.rq1_novel)} ({r.n_novel})",
                      f(r.rq1_canonical), f(r.rq1_heldout), f(r.heldout_vs_canonical), f"{r.p50_ms:.1f}",
                      f"{r.p95_ms:.1f}", f"{r.batch_per_s:.0f}", f"{r.invalid_rate:.1%}")
    print_table(console, table)
    typer.echo(f"plot: {plot_students(rows, out_dir / 'students.png')}\nresults: {out_dir / 'students.json'}")


@app.command("redact")
def redact(
    intents: int = typer.Option(5000, "--intents", help="Realistic intents (the simulator world's, as typed)."),
    private_share: float = typer.Option(0.1, "--private-share", help="Share holding private items of every kind."),
    long_share: float = typer.Option(0.01, "--long-share", help="Share near the 2000-character limit."),
    rounds: int = typer.Option(3, "--rounds", help="Timed passes over the intents."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """What the assistant's redactor (flywheel.privacy) adds per request: p50/p95/p99 microseconds per intent, by
    class (clean, private, long) and overall (goal: p95 <= 1000 us), and the placeholders it made per kind."""
    from flywheel_lab.bench.redact import GOAL_P95_US, run_bench

    r = run_bench(n=intents, seed=seed, rounds=rounds, private_share=private_share, long_share=long_share)
    table = Table(title=f"redactor: {r.intents} intents x {r.rounds} rounds (microseconds per intent)")
    for col in ("class", "n", "p50 us", "p95 us", "p99 us", "max us"):
        table.add_column(col, justify="right")
    for name, t in [*r.by_class.items(), ("all", r.overall)]:
        table.add_row(name, str(t.n), f"{t.p50_us:.1f}", f"{t.p95_us:.1f}", f"{t.p99_us:.1f}", f"{t.max_us:.0f}")
    print_table(console, table)
    typer.echo(f"first call in this process: {r.first_call_us:.0f} us (libphonenumber loads its region metadata)")
    typer.echo("placeholders per kind (one pass): " + ", ".join(f"{k} {v}" for k, v in sorted(r.found.items())))
    typer.echo(f"p95 {r.overall.p95_us:.1f} us: {'meets' if r.meets_goal else 'MISSES'} the goal <= "
               f"{GOAL_P95_US:.0f} us; cores: {os.cpu_count()}, load average now: {os.getloadavg()[0]:.1f}")


@app.command("erase")
def erase(
    events: list[int] = typer.Option(None, "--events", help="Event counts of history (repeatable; default 1M)."),
    seed: int = typer.Option(0),
    user_requests: int = typer.Option(50, help="History requests of the erased user (intents others typed too)."),
    private: int = typer.Option(5, help="Requests of the erased user with intents only they typed."),
    check: bool = typer.Option(True, help="Compare the run after the erasure with a full recompute (not timed)."),
    keep: bool = typer.Option(False, help="Keep the scratch databases."),
) -> None:
    """Erase one user at N events of history, ground truth included: erase_user + the next incremental ground-truth
    run (goal <= 10 s end to end at 10M events)."""
    from flywheel_lab.bench.erase import bench_erase

    s = get_settings()
    table = Table(title="bench erase (erase_user + the next incremental ground-truth run)")
    for c in ("events", "user requests", "first fold s", "erase s", "ground truth s", "re-picked", "total s",
              "= full"):
        table.add_column(c, justify="right")
    for n in sorted(events or [1_000_000]):
        with console.status(f"{n:,} events ...") as st:
            r = bench_erase(s, n, seed=seed, user_requests=user_requests, private=private, check=check, keep=keep,
                            progress=lambda msg, st=st: st.update(msg))
        table.add_row(f"{r.events:,}", f"{r.user_requests:,}", f"{r.first_fold_s:.2f}", f"{r.erase_s:.2f}",
                      f"{r.groundtruth_s:.2f}", f"{r.repicked:,}", f"{r.total_s:.2f}",
                      {True: "yes", False: "NO", None: "-"}[r.equals_full])
        console.print(f"  {r.events:,} events, deleted: " + ", ".join(f"{k} {v:,}" for k, v in r.deleted.items()))
    print_table(console, table)


@app.command("retention")
def retention(
    events: int = typer.Option(10_000_000, "--events", help="Events of history (5 per request over 120 days)."),
    seed: int = typer.Option(0),
    keep: bool = typer.Option(False, help="Keep the scratch database (what is left of it)."),
) -> None:
    """Retention at N events of history: drop one month of the event tables' partitions without, then with the
    Parquet export (goal: seconds at 10M events). Clones `flywheel bench groundtruth --keep`'s database if there is
    one of that size."""
    from flywheel_lab.bench.retention import bench_retention

    with console.status(f"{events:,} events ...") as st:
        r = bench_retention(get_settings(), events, seed=seed, keep=keep, progress=lambda msg: st.update(msg))
    console.print(f"[green]✓[/] {r.events:,} events ({r.source}, {r.prepare_s:.1f}s); plan {r.plan_s:.3f}s")
    t = Table(title="bench retention (one month of every event table)")
    for c in ("month", "export", "partitions", "rows", "size", "parquet", "export s", "total s"):
        t.add_column(c, justify="right")
    for d in r.drops:
        t.add_row(d["month"], "yes" if d["export"] else "no", str(d["partitions"]), f"{d['rows']:,}",
                  f"{d['bytes'] / 2**20:,.0f} MB", f"{d['parquet_bytes'] / 2**20:,.0f} MB" if d["export"] else "-",
                  f"{d['export_s']:.2f}", f"{d['total_s']:.2f}")
    print_table(console, t)
