"""The `flywheel` command line: one module per command group, assembled here in the order `--help` lists them.

Domain errors (`flywheel.errors`) raised by any command end in `Error: <message>` and their exit code
(`flywheel.cli.common.FlywheelGroup`).
"""

from __future__ import annotations

import typer

from flywheel.cli import (
    airflow,
    annotate,
    assistant,
    augment,
    bench,
    db,
    demo,
    evaluate,
    experiment,
    groundtruth,
    ingest,
    keys,
    mlflow,
    models,
    predict,
    render,
    report,
    simulate,
    splits,
    stack,
    teacher,
    train,
    validate,
)
from flywheel.cli.common import FlywheelGroup

app = typer.Typer(help="flywheel: teacher -> student distillation platform.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False, cls=FlywheelGroup)

# Top-level commands, each module's Typer merged in (no group name).
for module in (stack, ingest, simulate, teacher, assistant, groundtruth, splits, validate, train, predict, evaluate,
               models, augment, render, airflow, mlflow, demo):
    app.add_typer(module.app)
app.add_typer(annotate.app, name="annotate")
app.add_typer(bench.app, name="bench")
app.add_typer(db.app, name="db")
app.add_typer(experiment.app, name="experiment")
app.add_typer(report.app, name="report")
app.add_typer(keys.app, name="keys")


if __name__ == "__main__":
    app()
