"""`flywheel predict`: a student's tool outputs for a file of intents."""

from __future__ import annotations

import json
from pathlib import Path

import typer

app = typer.Typer()


@app.command()
def predict(
    model: str = typer.Option(..., "--model", help="model id (registry) or checkpoint folder"),
    input: Path = typer.Option(..., "--input", help="JSONL with an 'intent' per line, or plain text lines"),
    output: Path | None = typer.Option(None, "--output", help="predictions JSONL (default: stdout)"),
    batch_size: int = typer.Option(128, "--batch-size"),
) -> None:
    """Predict tool outputs for intents; invalid outputs are written as raw text and counted."""
    from flywheel.inference.cli_helpers import read_intents
    from flywheel.inference.predictor import load_predictor
    from flywheel.registry.store import resolve_model_dir
    from flywheel.training.data import write_jsonl

    p = load_predictor(resolve_model_dir(model), batch_size=batch_size)
    rows = [x.record() for x in p.predict_detailed(read_intents(input), progress=output is not None)]
    if output:
        write_jsonl(output, rows)
    else:
        for r in rows:
            typer.echo(json.dumps(r, ensure_ascii=False))
    typer.echo(f"{len(rows)} intents, invalid outputs: {p.counts['invalid']} of {p.counts['outputs']} "
               f"({p.invalid_rate:.1%})", err=True)
