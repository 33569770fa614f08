"""`flywheel train`: fine-tune a student on a stored split (in this process, a local process or a Kubernetes Job)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from flywheel.settings import get_settings

app = typer.Typer()


@app.command()
def train(
    split: str = typer.Option(..., "--split", help="split id"),
    config: Path | None = typer.Option(None, "--config", help="training config file (.json/.yaml; default: the "
                                       "n-gram student)"),
    split_dir: Path | None = typer.Option(None, "--split-dir", help="split folder (default: artifacts/splits/ID)"),
    model_id: str | None = typer.Option(None, "--model-id"),
    launcher: str = typer.Option("inprocess", help="inprocess | local (subprocess) | kubernetes (render a Job)"),
    no_register: bool = typer.Option(False, "--no-register", help="do not write the registry tables"),
) -> None:
    """Fine-tune a student on a stored split (multi-task over the three tools) and evaluate it on the test set."""
    from flywheel.training.config import parse_train_config, train_config_from_file

    s = get_settings()
    cfg = train_config_from_file(config) if config else parse_train_config({})
    if launcher == "inprocess":
        from flywheel.evaluation.offline import evaluate_files
        from flywheel.evaluation.table import print_report
        from flywheel.registry.stages import run_training

        r = run_training(s, split, cfg, split_dir=split_dir, model_id=model_id, register=not no_register)
        preds = r.path / "test_predictions.jsonl"
        if preds.is_file():
            folder = Path(r.lineage["split_path"])
            print_report(evaluate_files(preds, folder / "test.jsonl", folder / "train.jsonl"), model=r.model_id)
        typer.echo(json.dumps({"model_id": r.model_id, "path": str(r.path),
                               "training_seconds": round(r.training_seconds, 2),
                               "overall": r.metrics.get("overall")}))
        return
    from flywheel.training.launcher import launch

    res = launch(s, split, cfg, launcher, split_dir=split_dir, model_id=model_id)
    typer.echo(res.manifest_path or res.model_id)
