"""`flywheel evaluate`: the paper's offline metrics for a predictions file against references."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer()


@app.command()
def evaluate(
    predictions: Path = typer.Option(..., "--predictions"),
    references: Path = typer.Option(..., "--references"),
    as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
    model_id: str | None = typer.Option(None, "--model-id", help="store the results for this registered model"),
    split_id: str | None = typer.Option(None, "--split-id", help="split the references came from (storing)"),
    train: Path | None = typer.Option(None, "--train", help="the split's train.jsonl: adds the novel subset and the "
                                      "controls (most common answer, exact match, nearest training intent)"),
) -> None:
    """The paper's offline metrics (selection P/R/F1, quality, final, overall) for All, r_3 and r_5 (and, with
    --train, the novel subset and the controls)."""
    from flywheel.evaluation.offline import evaluate_files
    from flywheel.evaluation.table import print_report, report_summary

    report = evaluate_files(predictions, references, train)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report, model=model_id or predictions.stem)
    if model_id:
        from flywheel.registry.store import get_model, store_evaluation
        from flywheel.settings import get_settings

        s = get_settings()
        sid = split_id or get_model(s, model_id).split_id
        n = store_evaluation(s, model_id, sid, report_summary(report))
        typer.echo(f"stored {n} evaluation rows for {model_id} on split {sid}", err=True)
