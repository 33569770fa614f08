"""`flywheel augment`: error-targeted augmentation of a split."""

from __future__ import annotations

from pathlib import Path

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer()


@app.command()
def augment(
    model: str = typer.Option(..., "--model", help="model id (registry) or checkpoint folder"),
    split: str = typer.Option(..., "--split", help="split id to augment"),
    iterations: int = typer.Option(1, "--iterations", min=1, help="rounds; the student is retrained between"),
    config: Path | None = typer.Option(None, "--config", help="TrainConfig for retraining between rounds"),
    kept: int | None = typer.Option(None, "--paraphrases-kept", help="new intents per mistaken intent"),
) -> None:
    """Mine the student's training-set mistakes, paraphrase them, write a new split (lineage to --split)."""
    from flywheel.augment.pipeline import RoundResult, augment_split
    from flywheel.training.config import train_config_from_file

    s = get_settings()
    if kept is not None:
        s = s.model_copy(update={"augment_paraphrases_kept": kept})
    cfg = train_config_from_file(config) if config else None
    rounds: list[RoundResult] = []
    new = augment_split(s, model, split, iterations=iterations, train_config=cfg, rounds=rounds)
    for r in rounds:
        m = r.mining
        console.print(f"round {r.iteration}: model {r.model_id}: {m['n_mistaken_intents']}/{m['n_rows']} "
                      f"mistaken intents {m['per_tool']} -> +{r.n_added} intents {r.dedupe} -> {r.split_id}")
    console.print(f"[green]✓[/] augmented split {new}")
    typer.echo(new)
