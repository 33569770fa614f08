"""`flywheel ingest` (the Kafka -> Postgres service) and `flywheel ingest-replay-dlq`."""

from __future__ import annotations

import typer

from flywheel.cli.common import setup_logging
from flywheel.settings import get_settings

app = typer.Typer()


@app.command("ingest")
def ingest(
    max_events: int = typer.Option(None, help="Stop after this many records (tests, demo)."),
    idle_exit_s: float = typer.Option(None, help="Stop once no record arrived for this many seconds."),
    metrics_port: int = typer.Option(None, help="Serve Prometheus counters on 127.0.0.1:PORT."),
    batch_size: int = typer.Option(None, help="Records per transaction (default FLYWHEEL_INGEST_BATCH_SIZE)."),
    batch_max_mb: float = typer.Option(16.0, help="Bytes per transaction, at most (MiB)."),
    group: str = typer.Option(None, help="Consumer group (default FLYWHEEL_INGEST_GROUP)."),
    writers: int = typer.Option(2, help="Writers (Postgres connections)."),
    processes: bool = typer.Option(None, "--processes/--threads", show_default=False,
                                   help="Writers as child processes or threads [default: processes when two or more "
                                   "CPUs are usable]."),
    shutdown_grace_s: float = typer.Option(30.0, help="On SIGTERM, how long to wait for an unreachable Postgres "
                                           "before exiting 3 (unwritten batches stay uncommitted)."),
    verbose: bool = typer.Option(False, "--verbose", "-v"),
) -> None:
    """Long-running Kafka -> Postgres ingest (consumer group). SIGTERM finishes the batch and exits 0."""
    setup_logging(verbose)
    from flywheel.events.validation import ContractError
    from flywheel.ingest.service import IngestAborted, IngestOptions, run_ingest

    opts = IngestOptions(max_events=max_events, idle_exit_s=idle_exit_s, metrics_port=metrics_port,
                         batch_size=batch_size, group=group, writers=writers,
                         writer_processes=processes, shutdown_grace_s=shutdown_grace_s,
                         batch_max_bytes=int(batch_max_mb * 1024 * 1024))
    try:
        stats = run_ingest(get_settings(), opts)
    except ContractError as exc:
        typer.echo(f"Error: ingest refuses to start: {exc}", err=True)
        raise typer.Exit(2) from exc
    except IngestAborted as exc:
        typer.echo(f"ingest aborted: {exc}", err=True)
        raise typer.Exit(3) from exc
    typer.echo(f"consumed={stats.consumed} written={stats.accepted} new_rows={stats.inserted} "
               f"failed={stats.failed} dead_letter_pending={stats.dead_letter_pending} seconds={stats.seconds:.1f}")


@app.command("ingest-replay-dlq")
def replay(
    source: str = typer.Option("topic", help="'topic' (the dead-letter topic) or 'table' (failed_events)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report what would be replayed."),
) -> None:
    """Re-publish dead letters that pass today's contracts into the events topic (after a fix)."""
    setup_logging(False)
    from flywheel.ingest.dlq import replay_dead_letters

    s = replay_dead_letters(get_settings(), source=source, dry_run=dry_run)
    verb = "would replay" if dry_run else "replayed"
    typer.echo(f"scanned={s.scanned} {verb}={s.replayed} unacknowledged={s.unacknowledged} "
               f"already_replayed={s.already_replayed} "
               f"still_failing={sum(s.still_failing.values())} {s.still_failing}")
    for ex in s.examples:
        typer.echo(f"  still failing: {ex}")


@app.command("ingest-resend-dlq")
def resend() -> None:
    """Dead-letter the failures whose copy the broker never acknowledged (failed_events.dead_letter_pending)."""
    setup_logging(False)
    from flywheel.ingest.dlq import resend_pending

    sent, left = resend_pending(get_settings())
    typer.echo(f"sent={sent} still_pending={left}")
    if left:
        raise typer.Exit(3)
