"""`flywheel ingest`, `flywheel ingest-replay-dlq`, `flywheel bench ingest`."""

from __future__ import annotations

import logging

import typer


def _logging(verbose: bool) -> None:
    import sys

    level = logging.DEBUG if verbose else logging.INFO
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        logging.basicConfig(level=level, format="%(message)s", force=True,
                            handlers=[RichHandler(show_path=False, rich_tracebacks=False)])
    else:  # services under a supervisor: one plain line per record, easy to grep
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    logging.getLogger("kafka").setLevel(logging.WARNING if not verbose else logging.INFO)
    # kafka-python 3 warns whenever a poll-loop task runs > 100 ms, which a busy 2-core box does all the time.
    logging.getLogger("kafka.net.selector").setLevel(logging.ERROR if not verbose else logging.WARNING)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        max_events: int = typer.Option(None, help="Stop after this many records (tests, demo)."),
        idle_exit_s: float = typer.Option(None, help="Stop once no record arrived for this many seconds."),
        metrics_port: int = typer.Option(None, help="Serve Prometheus counters on 127.0.0.1:PORT."),
        batch_size: int = typer.Option(None, help="Records per transaction (default FLYWHEEL_INGEST_BATCH_SIZE)."),
        group: str = typer.Option(None, help="Consumer group (default FLYWHEEL_INGEST_GROUP)."),
        writers: int = typer.Option(2, help="Writers (Postgres connections)."),
        processes: bool = typer.Option(False, "--processes/--threads",
                                       help="Writers as child processes (use spare cores) or threads."),
        shutdown_grace_s: float = typer.Option(30.0, help="On SIGTERM, how long to wait for an unreachable Postgres "
                                               "before exiting 3 (unwritten batches stay uncommitted)."),
        verbose: bool = typer.Option(False, "--verbose", "-v"),
    ) -> None:
        """Long-running Kafka -> Postgres ingest (consumer group). SIGTERM finishes the batch and exits 0."""
        _logging(verbose)
        from flywheel.ingest.service import IngestAborted, IngestOptions, run_ingest
        from flywheel.settings import get_settings

        opts = IngestOptions(max_events=max_events, idle_exit_s=idle_exit_s, metrics_port=metrics_port,
                             batch_size=batch_size, group=group, writers=writers,
                             writer_processes=processes, shutdown_grace_s=shutdown_grace_s)
        try:
            stats = run_ingest(get_settings(), opts)
        except IngestAborted as exc:
            typer.echo(f"ingest aborted: {exc}", err=True)
            raise typer.Exit(3) from exc
        typer.echo(f"consumed={stats.consumed} written={stats.accepted} new_rows={stats.inserted} "
                   f"failed={stats.failed} seconds={stats.seconds:.1f}")

    @app.command("ingest-replay-dlq")
    def replay(
        source: str = typer.Option("topic", help="'topic' (the dead-letter topic) or 'table' (failed_events)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be replayed."),
    ) -> None:
        """Re-publish dead letters that pass today's contracts into the events topic (after a fix)."""
        _logging(False)
        from flywheel.ingest.dlq import replay_dead_letters
        from flywheel.settings import get_settings

        s = replay_dead_letters(get_settings(), source=source, dry_run=dry_run)
        verb = "would replay" if dry_run else "replayed"
        typer.echo(f"scanned={s.scanned} {verb}={s.replayed} already_replayed={s.already_replayed} "
                   f"still_failing={sum(s.still_failing.values())} {s.still_failing}")
        for ex in s.examples:
            typer.echo(f"  still failing: {ex}")

    @bench.command("ingest")
    def bench_ingest(
        events: int = typer.Option(200_000, help="Events to produce and ingest."),
        seed: int = typer.Option(None, help="Event stream seed (default: a fresh one, so every event is new)."),
        writers: int = typer.Option(2, help="Writers (Postgres connections)."),
        processes: bool = typer.Option(False, "--processes/--threads", help="Writers as child processes or threads."),
    ) -> None:
        """Consume-only rate vs full ingest rate (Kafka -> validate -> Postgres) on the same topic; their ratio."""
        _logging(False)
        from flywheel.ingest.bench import run_bench
        from flywheel.settings import get_settings

        r = run_bench(get_settings(), events, seed=seed, writers=writers, processes=processes)
        typer.echo(f"events={r.events} produced in {r.produce_s:.1f}s; rows written={r.rows}")
        typer.echo(f"consume-only: {r.consume_only_rate:,.0f} events/s")
        typer.echo(f"ingest:       {r.ingest_rate:,.0f} events/s")
        typer.echo(f"ratio:        {r.ratio:.2f} (goal >= 0.90)")
        fmt = lambda d: ", ".join(f"{k} {v:.1f}" for k, v in sorted(d.items()))  # noqa: E731
        typer.echo(f"CPU us/event consume-only: {fmt(r.cpu_consume_us)}")
        typer.echo(f"CPU us/event ingest:       {fmt(r.cpu_ingest_us)}")
        import os

        typer.echo(f"cores: {os.cpu_count()}, load average now: {os.getloadavg()[0]:.1f}")
