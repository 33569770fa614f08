"""`flywheel groundtruth`, `splits`, `validate`, `truthcheck` and `bench groundtruth`."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

console = Console()
TOOL_LABELS = {"adjust": "Adjust", "selective_adjust": "Sel. adjust", "filter": "Filter"}


def set_table(split: Any) -> Table:
    """The paper's "Set" table: Used / All per tool, for train and test, plus the r_k subset sizes."""
    t = Table(title=f"Set — split {split.split_id}")
    t.add_column("Set")
    for label in TOOL_LABELS.values():
        t.add_column(f"{label}\nUsed", justify="right")
        t.add_column("All", justify="right")
    for part in ("train", "test"):
        row = split.set_table.get(part, {})
        cells = [f"{row.get(tool, {}).get(k, 0):,}" for tool in TOOL_LABELS for k in ("used", "all")]
        t.add_row(part.capitalize(), *cells)
    return t


def _fail(exc: Exception, code: int = 2) -> None:
    console.print(f"[red]✗[/] {exc}")
    raise typer.Exit(code) from exc


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("groundtruth")
    def groundtruth(
        watermark: datetime = typer.Option(None, help="Use events ingested up to this time (default: all)."),
        teacher_arm: str = typer.Option("teacher", help="Arm whose responses are the teacher's."),
        validate: bool = typer.Option(True, help="Run the great-expectations gate on the run."),
    ) -> None:
        """Compute export-rate ground truth in Postgres as a versioned run (same watermark -> same run)."""
        from flywheel.datasets.groundtruth import NoEvents, run_groundtruth
        from flywheel.datasets.validate import ValidationFailed, validate_groundtruth
        from flywheel.settings import get_settings

        s = get_settings()
        try:
            with console.status("computing ground truth in Postgres ..."):
                run = run_groundtruth(s, watermark=watermark, teacher_arm=teacher_arm)
        except NoEvents as exc:
            _fail(exc)
        verb = "computed" if run.created else "already stored"
        console.print(f"[green]✓[/] ground-truth run [bold]{run.run_id}[/] {verb} (watermark "
                      f"{run.watermark.isoformat()}): {run.n_intents:,} intents kept, {run.n_dropped:,} dropped "
                      "(no export), "
                      f"{run.n_responses:,} teacher responses, {run.duration_s:.1f}s")
        console.print("  used: " + ", ".join(f"{TOOL_LABELS[t]} {n:,}" for t, n in run.used.items()))
        if validate:
            try:
                with console.status("great-expectations gate ..."):
                    out = validate_groundtruth(s, run.run_id)
                console.print(f"[green]✓[/] GX: {out.n_expectations} expectations passed")
            except ValidationFailed as exc:
                _fail(exc, 3)

    @app.command("splits")
    def splits(
        test_size: int = typer.Option(1000, help="Unique test intents (the paper: 1,000)."),
        seed: int = typer.Option(0, help="Seed of the draw (same run + seed + size -> same split)."),
        run: str = typer.Option(None, "--run", help="Ground-truth run id (default: the latest)."),
        validate: bool = typer.Option(True, help="Gate the ground truth and the split with great-expectations."),
    ) -> None:
        """Split a ground-truth run by unique intent, export JSONL, print the paper's Set table and r_3 / r_5."""
        from flywheel.datasets.groundtruth import UnknownRun, get_run
        from flywheel.datasets.splits import SplitError, make_split
        from flywheel.datasets.validate import ValidationFailed
        from flywheel.settings import get_settings

        s = get_settings()
        try:
            gt = get_run(s, run)
            with console.status("splitting ..."):
                res = make_split(s, gt.run_id, test_size=test_size, seed=seed, validate=validate)
        except (UnknownRun, SplitError) as exc:
            _fail(exc)
        except ValidationFailed as exc:
            _fail(exc, 3)
        console.print(f"[green]✓[/] split [bold]{res.split_id}[/] {'created' if res.created else 'already stored'} "
                      f"from {gt.run_id} (seed {seed}); files in {res.path}")
        console.print(set_table(res))
        console.print("  " + ", ".join(f"{k}: {v:,} test intents" for k, v in res.r_sizes.items()))

    @app.command("validate")
    def validate_cmd(
        run: str = typer.Option(None, "--run", help="Ground-truth run id to validate."),
        split: str = typer.Option(None, "--split", help="Split id to validate."),
    ) -> None:
        """Run the great-expectations gate on a ground-truth run and/or a split (default: the latest run)."""
        from flywheel.datasets.groundtruth import UnknownRun, get_run
        from flywheel.datasets.validate import ValidationFailed, validate_groundtruth, validate_split
        from flywheel.settings import get_settings

        s = get_settings()
        try:
            targets = [("split", split)] if split else []
            if run or not split:
                targets.insert(0, ("groundtruth", get_run(s, run).run_id))
            for kind, tid in targets:
                out = (validate_groundtruth if kind == "groundtruth" else validate_split)(s, tid)
                console.print(f"[green]✓[/] {out.report}")
        except (UnknownRun, LookupError) as exc:
            _fail(exc)
        except ValidationFailed as exc:
            _fail(exc, 3)

    @app.command("truthcheck")
    def truthcheck_cmd(
        truth: Path = typer.Option(..., "--truth", help="The simulator's truth-seed{S}.jsonl."),
        run: str = typer.Option(None, "--run", help="Ground-truth run id (default: the latest)."),
        min_exposures: int = typer.Option(5, help="Only intents with at least this many teacher responses."),
    ) -> None:
        """How often the ground truth is the teacher candidate closest to the simulator's latent ideal."""
        from flywheel.checks.truthcheck import truthcheck
        from flywheel.settings import get_settings

        try:
            res = truthcheck(get_settings(), truth, run, min_exposures=min_exposures)
        except (FileNotFoundError, ValueError, LookupError) as exc:
            _fail(exc)
        t = Table(title=f"Ground truth vs hidden truth — run {res.run_id}, intents with >= {min_exposures} exposures")
        for c in ("tool", "rows", "closest", "rate"):
            t.add_column(c, justify="right" if c != "tool" else "left")
        for tool, v in res.per_tool.items():
            t.add_row(TOOL_LABELS[tool], f"{v['n']:,}", f"{v['hits']:,}", f"{v['rate']:.1%}")
        t.add_row("[bold]all[/]", f"{res.n:,}", f"{res.hits:,}", f"[bold]{res.rate:.1%}[/]")
        t.add_row("contested (>= 2 candidates)", f"{res.contested['n']:,}", f"{res.contested['hits']:,}",
                  f"{res.contested['rate']:.1%}")
        console.print(t)
        console.print(f"  within {res.tolerance} of the closest: {res.near_rate:.1%}; misses where the ideal is null "
                      f"but an exported used candidate won: {res.null_ideal_misses}; intents missing from the truth "
                      f"file: {res.missing_truth}")
        mark = "[green]✓[/]" if res.rate >= 0.95 else "[yellow]![/]"
        console.print(f"{mark} goal >= 95%: {res.rate:.1%}")

    @bench.command("groundtruth")
    def bench_groundtruth(
        events: list[int] = typer.Option(None, "--events", help="Event counts (repeatable; default 1M and 10M)."),
        seed: int = typer.Option(0),
        keep: bool = typer.Option(False, help="Keep the scratch databases."),
        reuse: bool = typer.Option(False, help="Reuse kept scratch databases of the right size (skip loading)."),
        repeats: int = typer.Option(2, help="Time each stage this many times; the fastest counts."),
        validate: bool = typer.Option(False, help="Also time the GX gate (not part of the ratio)."),
    ) -> None:
        """Time ground truth + splits on bulk-loaded synthetic events; print the per-event cost ratio (goal <= 1.2)."""
        from flywheel.datasets.bench import bench_one, per_event_ratio
        from flywheel.settings import get_settings

        s = get_settings()
        sizes = sorted(events or [1_000_000, 10_000_000])
        results = []
        for n in sizes:
            with console.status(f"{n:,} events ...") as st:
                results.append(bench_one(s, n, seed=seed, keep=keep or reuse, validate=validate, repeats=repeats,
                                         reuse=reuse,
                                         progress=lambda msg, st=st: st.update(msg)))
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
        console.print(t)
        ratio = per_event_ratio(results)
        if ratio is not None:
            mark = "[green]✓[/]" if ratio <= 1.2 else "[yellow]![/]"
            console.print(f"{mark} per-event cost ratio {results[-1].events:,} / {results[0].events:,}: "
                          f"[bold]{ratio:.2f}[/] (goal <= 1.2)")
