"""The referee's commands, added to the `flywheel` CLI through the entry point ``flywheel.cli`` (lab/pyproject.toml)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the simulator, demo, known-answer checks, benches, experiments and the docs' screenshots to the product's
    CLI."""
    from flywheel.cli import annotate
    from flywheel_lab.cli import bench, checks, demo, docs, experiment, simulate, teacher

    for module in (simulate, teacher, checks, demo):
        app.add_typer(module.app)
    annotate.app.command("simulate")(checks.simulate)
    app.add_typer(bench.app, name="bench")
    app.add_typer(experiment.app, name="experiment")
    app.add_typer(docs.app, name="docs")
