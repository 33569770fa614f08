"""The `flywheel` command line: one module per command group, assembled here in the order `--help` lists them.

Domain errors (`flywheel.errors`) raised by any command end in `Error: <message>` and their exit code
(`flywheel.cli.common.FlywheelGroup`).

Commands of other installed distributions join through the entry-point group ``flywheel.cli`` (each entry a
``register(app)`` function): the referee package (`flywheel-lab`: simulator, demo, checks, benches, experiments) adds
its commands this way, so the product never imports it and runs without it.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

from flywheel.cli import (
    airflow,
    annotate,
    assistant,
    augment,
    db,
    erase,
    evaluate,
    groundtruth,
    ingest,
    keys,
    mlflow,
    models,
    predict,
    render,
    report,
    retention,
    splits,
    sql,
    stack,
    train,
    validate,
)
from flywheel.cli.common import FlywheelGroup

app = typer.Typer(help="flywheel: teacher -> student distillation platform.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False, cls=FlywheelGroup)

# Top-level commands, each module's Typer merged in (no group name).
for module in (stack, ingest, assistant, groundtruth, splits, validate, train, predict, evaluate, models, augment,
               render, airflow, mlflow, sql, erase, retention):
    app.add_typer(module.app)
app.add_typer(annotate.app, name="annotate")
app.add_typer(db.app, name="db")
app.add_typer(report.app, name="report")
app.add_typer(keys.app, name="keys")

# Plugins last: they may add commands to the groups above (e.g. `flywheel annotate simulate`).
for _plugin in entry_points(group="flywheel.cli"):
    _plugin.load()(app)


if __name__ == "__main__":
    app()
