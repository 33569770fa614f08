"""`flywheel experiment ...`: A/B experiment configuration (create, activate, end, list) and the RQ2 `low-data`
experiment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from flywheel.cli.common import console, fail
from flywheel.settings import get_settings

app = typer.Typer(help="A/B experiments (table-backed assistant routing).", no_args_is_help=True)


def _engine() -> Any:
    from flywheel.db.engine import make_engine

    return make_engine(get_settings())


def _show(cfg: Any) -> None:
    arms = ", ".join(f"{a.arm}={a.weight:g} ({a.backend}{':' + a.model_ref if a.model_ref else ''})"
                     for a in cfg.arms)
    console.print(f"[bold]{cfg.experiment_id}[/] {cfg.name!r} status={cfg.status} salt={cfg.salt} "
                  f"started={cfg.started_at} ended={cfg.ended_at} arms: {arms}")


@app.command("create")
def create(
    name: str = typer.Option(..., "--name"),
    arms: str = typer.Option(..., "--arms", help="name:weight:backend[:model_ref],... e.g. "
                                                 "teacher:0.5:teacher,student:0.5:student"),
    salt: str | None = typer.Option(None, "--salt", help="Default: random."),
    activate: bool = typer.Option(True, "--activate/--draft", help="Activate now (ends the active one)."),
    experiment_id: str | None = typer.Option(None, "--id"),
) -> None:
    """Create an experiment (active by default)."""
    from flywheel.db.experiments import ExperimentError, create_experiment, parse_arms

    try:
        _show(create_experiment(_engine(), name, parse_arms(arms), salt=salt, activate=activate,
                                experiment_id=experiment_id))
    except ExperimentError as exc:
        fail(str(exc), mark="[red]error:[/]")


@app.command("activate")
def activate(experiment_id: str) -> None:
    """Make EXPERIMENT_ID the active experiment (ends the one before)."""
    from flywheel.db.experiments import ExperimentError, activate_experiment

    try:
        _show(activate_experiment(_engine(), experiment_id))
    except ExperimentError as exc:
        fail(str(exc), mark="[red]error:[/]")


@app.command("end")
def end(experiment_id: str) -> None:
    """End EXPERIMENT_ID (the assistant falls back to the teacher if no other is active)."""
    from flywheel.db.experiments import ExperimentError, end_experiment

    try:
        _show(end_experiment(_engine(), experiment_id))
    except ExperimentError as exc:
        fail(str(exc), mark="[red]error:[/]")


@app.command("list")
def list_() -> None:
    """All experiments, newest first."""
    from flywheel.db.experiments import list_experiments

    rows = list_experiments(_engine())
    if not rows:
        console.print("no experiments (everyone is served by the teacher)")
    for cfg in rows:
        _show(cfg)


def _config(config: Path | None, epochs: float | None, max_steps: int | None, seed: int) -> Any:
    from flywheel.training.config import parse_train_config, train_config_from_file

    cfg = train_config_from_file(config) if config else parse_train_config({"seed": seed})
    upd: dict = {}
    if epochs is not None:
        upd["epochs"] = epochs
    if max_steps is not None:
        upd["max_steps"] = max_steps
    return cfg.model_copy(update=upd) if upd else cfg


@app.command("low-data")
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
    from flywheel.textable import print_table
    from flywheel_lab.experiments.low_data import build_simulated_split, render_table, run_low_data
    from flywheel_lab.simulator.local_teacher import local_teacher

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
    print_table(console, render_table(report))
    console.print(f"report: {report.report_path} (pipeline_runs {report.run_id}, {report.seconds:.0f}s)")


@app.command("arms")
def arms_cmd(
    days: int = typer.Option(5, min=1, help="A/B days per run."),
    intents: int = typer.Option(3000, min=50, help="Unique intents of day 0."),
    seed: int = typer.Option(7),
    test_size: int = typer.Option(300, min=10),
    ab_fraction: float = typer.Option(0.3, min=0.01, max=1.0),
    max_steps: int = typer.Option(0, min=0, help="Cap on optimizer steps (0: the config default)."),
    out: Path = typer.Option(Path(".flywheel/arms"), help="Folder for the two runs' state and artifacts."),
) -> None:
    """Which arms should feed ground truth? The multi-day demo with `groundtruth_arms=teacher`, then `all`; prints
    the simulator's true student/teacher ratio per day for both."""
    from rich.table import Table

    from flywheel.textable import print_table
    from flywheel_lab.demo import DemoOptions
    from flywheel_lab.demo.compare import SETTINGS, compare_arms, trajectory_rows

    opts = DemoOptions(intents=intents, days=days, seed=seed, test_size=test_size, ab_fraction=ab_fraction,
                       max_steps=max_steps or None)
    results = compare_arms(get_settings(), opts, out, console)
    table = Table(title="true student/teacher ratio per day (and the serving student's RQ1) by groundtruth_arms")
    table.add_column("day")
    for arms in SETTINGS:
        table.add_column(f"{arms}: true ratio")
        table.add_column(f"{arms}: RQ1")
    for row in trajectory_rows(results):
        table.add_row(*row)
    print_table(console, table)


@app.command("decide")
def decide_cmd(
    experiment_id: str | None = typer.Argument(None, help="The phase to look at (default: the active experiment)."),
    apply: bool | None = typer.Option(None, "--apply/--record-only",
                                      help="Act on the decision (default: setting experiment_apply_decisions)."),
) -> None:
    """One look of the pre-registered rule: record the decision; on ship ramp the student up, on roll back return
    everyone to the teacher (each a new phase)."""
    from flywheel.db.experiments import ExperimentError
    from flywheel.experiments.decide import decide_phase

    try:
        rec = decide_phase(_engine(), settings=get_settings(), experiment_id=experiment_id, apply=apply)
    except ExperimentError as exc:
        fail(str(exc), mark="[red]error:[/]")
    console.print("nothing to decide (no active experiment with a student arm)" if rec is None else rec.line(),
                  markup=False)


@app.command("sequential")
def sequential_cmd(
    replicates: int = typer.Option(200, min=10, help="Seeded experiments per truth."),
    max_days: int = typer.Option(14, min=1, help="Days each experiment may run."),
    intents: int = typer.Option(3000, min=50, help="Catalogue of the demo-sized day."),
    fraction: float = typer.Option(0.3, min=0.01, max=1.0, help="Share of a collection day one A/B day serves."),
    seed: int = typer.Option(7),
    weight: float = typer.Option(0.5, min=0.01, max=0.99, help="Student share of users."),
    out: Path | None = typer.Option(None, help="Write the summaries as JSON here."),
) -> None:
    """The decision rule on the simulator, without services: A/A, a student at the margin, 3 % better, 10 % worse;
    how often each ships or is rolled back, and after how many days."""
    import json

    from rich.table import Table

    from flywheel.textable import print_table
    from flywheel_lab.experiments.sequential import run_study

    rows = run_study(seed=seed, intents=intents, fraction=fraction, replicates=replicates, max_days=max_days,
                     pool_days=max_days, weight=weight)
    table = Table(title=f"decision rule on the simulator ({replicates} experiments per truth, up to {max_days} days, "
                        f"~{rows[0]['users_per_day']} users / {rows[0]['projects_per_day']} projects a day)")
    cols = ("truth", "ship_rate", "roll_back_rate", "undecided_rate", "median_days_to_ship", "p90_days_to_ship",
            "median_days_to_roll_back", "sequential_excludes_1_rate", "cumulative_fixed_excludes_1_rate",
            "daily_fixed_excludes_1_rate", "sd_log_ratio_one_day")
    for c in cols:
        table.add_column(c.replace("_", " "))
    for r in rows:
        table.add_row(*("-" if r[c] is None else f"{r[c]:.3g}" for c in cols))
    print_table(console, table)
    if out is not None:
        out.write_text(json.dumps(rows, indent=2))
        console.print(f"written: {out}")
