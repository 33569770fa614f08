"""Known-answer checks on the command line: `flywheel truthcheck` (ground truth against the simulator's hidden truth)
and `flywheel annotate simulate` (simulated annotators answer a reality-check batch)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from flywheel.cli.annotate import _production
from flywheel.cli.common import console, fail
from flywheel.datasets.tables import TOOL_LABELS
from flywheel.settings import get_settings
from flywheel.textable import print_table

app = typer.Typer()


def simulate(
    model: str | None = typer.Option(None, "--model", help="model id (default: the production model)"),
    world_seed: int = typer.Option(..., "--world-seed", help="seed of the simulated world (its hidden truth)"),
    annotators: int = typer.Option(5, "--annotators", help="simulated annotators"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Simulated annotators (from the world's hidden truth) answer the model's batch; prints the summary."""
    from flywheel_lab.checks.reality import simulated_summary
    from flywheel_lab.simulator.truth import truth_path

    s = get_settings()
    summary, rel = simulated_summary(s, model_id=model or _production(s), n_annotators=annotators, seed=seed,
                                     truth_file=truth_path(s.artifacts_dir, world_seed))
    for line in summary.lines():
        typer.echo(line)
    typer.echo(f"  known-answer relevance score vs relevancy votes: {json.dumps(rel)}")


@app.command("truthcheck")
def truthcheck(
    truth: Path = typer.Option(..., "--truth", help="The simulator's truth-seed{S}.jsonl."),
    run: str = typer.Option(None, "--run", help="Ground-truth run id (default: the latest)."),
    min_exposures: int = typer.Option(5, help="Only intents with at least this many teacher responses."),
) -> None:
    """How often the ground truth is the teacher candidate closest to the simulator's latent ideal."""
    from flywheel_lab.checks.truthcheck import truthcheck as _truthcheck

    try:
        res = _truthcheck(get_settings(), truth, run, min_exposures=min_exposures)
    except (FileNotFoundError, ValueError, LookupError) as exc:
        fail(exc)
    t = Table(title=f"Ground truth vs hidden truth — run {res.run_id}, intents with >= {min_exposures} exposures")
    for c in ("tool", "rows", "closest", "rate"):
        t.add_column(c, justify="right" if c != "tool" else "left")
    for tool, v in res.per_tool.items():
        t.add_row(TOOL_LABELS[tool], f"{v['n']:,}", f"{v['hits']:,}", f"{v['rate']:.1%}")
    t.add_row("[bold]all[/]", f"{res.n:,}", f"{res.hits:,}", f"[bold]{res.rate:.1%}[/]")
    t.add_row("contested (>= 2 candidates)", f"{res.contested['n']:,}", f"{res.contested['hits']:,}",
              f"{res.contested['rate']:.1%}")
    print_table(console, t)
    console.print(f"  within {res.tolerance} of the closest: {res.near_rate:.1%}; misses where the ideal is null "
                  f"but an exported used candidate won: {res.null_ideal_misses}; intents missing from the truth "
                  f"file: {res.missing_truth}")
    mark = "[green]✓[/]" if res.rate >= 0.95 else "[yellow]![/]"
    console.print(f"{mark} goal >= 95%: {res.rate:.1%}")
