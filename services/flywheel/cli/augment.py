"""augment / experiment low-data: error-targeted augmentation and the paper's RQ2 experiment."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from flywheel.settings import get_settings

console = Console()


def _experiment_group(app: typer.Typer) -> typer.Typer:
    """Join an existing `experiment` group (the A/B commands may define one) instead of clashing with it."""
    for info in app.registered_groups:
        if info.name == "experiment" and info.typer_instance is not None:
            return info.typer_instance
    group = typer.Typer(help="Experiments.", no_args_is_help=True)
    app.add_typer(group, name="experiment")
    return group


def _config(config: Path | None, epochs: float | None, max_steps: int | None, seed: int):
    from flywheel.training.config import TrainConfig

    cfg = TrainConfig.from_file(config) if config else TrainConfig.model_validate({"seed": seed})
    upd: dict = {}
    if epochs is not None:
        upd["epochs"] = epochs
    if max_steps is not None:
        upd["max_steps"] = max_steps
    return cfg.model_copy(update=upd) if upd else cfg


def register(app: typer.Typer, bench: typer.Typer) -> None:
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
        from flywheel.training.config import TrainConfig

        s = get_settings()
        if kept is not None:
            s = s.model_copy(update={"augment_paraphrases_kept": kept})
        cfg = TrainConfig.from_file(config) if config else None
        rounds: list[RoundResult] = []
        new = augment_split(s, model, split, iterations=iterations, train_config=cfg, rounds=rounds)
        for r in rounds:
            m = r.mining
            console.print(f"round {r.iteration}: model {r.model_id}: {m['n_mistaken_intents']}/{m['n_rows']} "
                          f"mistaken intents {m['per_tool']} -> +{r.n_added} intents {r.dedupe} -> {r.split_id}")
        console.print(f"[green]✓[/] augmented split {new}")
        typer.echo(new)

    exp = _experiment_group(app)

    @exp.command("low-data")
    def low_data(
        fraction: float = typer.Option(0.125, "--fraction", help="share of the training intents kept"),
        seed: int = typer.Option(0, "--seed"),
        split: str | None = typer.Option(None, "--split", help="100 %% split; default: build one on the simulator"),
        intents: int = typer.Option(9252, "--intents", help="simulator: unique intents (paper: 9,252)"),
        days: float = typer.Option(120.0, "--days", help="simulator: days of traffic"),
        test_size: int = typer.Option(1000, "--test-size", help="simulator: test intents (paper: 1,000)"),
        world_seed: int | None = typer.Option(None, "--world-seed",
                                              help="simulator world of --split (for the paraphrase server)"),
        serve_teacher: bool = typer.Option(True, "--serve-teacher/--no-serve-teacher",
                                           help="answer paraphrase requests from an in-process teacher-server "
                                                "for the simulator world (else: settings' augment/openai endpoint)"),
        config: Path | None = typer.Option(None, "--config", help="TrainConfig (.json/.yaml) for all three students"),
        epochs: float | None = typer.Option(None, "--epochs", help="override the config's epochs"),
        max_steps: int | None = typer.Option(None, "--max-steps", help="override: fixed optimizer steps"),
        min_steps: int | None = typer.Option(300, "--min-steps",
                                             help="each student trains --epochs but at least this many steps"),
        kept: int | None = typer.Option(None, "--paraphrases-kept", help="new intents per mistaken intent"),
    ) -> None:
        """RQ2: 100 % vs FRACTION vs FRACTION + one augmentation round (train size, overall), stored and printed."""
        from flywheel.experiments.low_data import build_simulated_split, render_table, run_low_data
        from flywheel.simulator.local_teacher import local_teacher

        s = get_settings()
        if kept is not None:
            s = s.model_copy(update={"augment_paraphrases_kept": kept})
        cfg = _config(config, epochs, max_steps, seed)
        if split is None:
            split = build_simulated_split(s, seed=seed, intents=intents, days=days, test_size=test_size)
            world_seed = seed if world_seed is None else world_seed
        if serve_teacher:
            if world_seed is None:
                raise typer.BadParameter("--world-seed is needed with --split and --serve-teacher "
                                         "(or use --no-serve-teacher and a running paraphrase endpoint)")
            with local_teacher(s, world_seed) as s2:
                report = run_low_data(s2, split, fraction=fraction, seed=seed, config=cfg, min_steps=min_steps)
        else:
            report = run_low_data(s, split, fraction=fraction, seed=seed, config=cfg, min_steps=min_steps)
        console.print(render_table(report))
        console.print(f"report: {report.report_path} (pipeline_runs {report.run_id}, {report.seconds:.0f}s)")
