"""`flywheel annotate ...`: the reality check (docs/reality.md): batches, annotators, the annotation app, the report."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from flywheel.cli.common import console
from flywheel.settings import get_settings

app = typer.Typer(help="Reality check: annotators judge the student's edits on photos in the browser.",
                  no_args_is_help=True)


@app.command("prepare")
def prepare(
    model: str | None = typer.Option(None, "--model", help="model id (default: the production model)"),
    tasks: int = typer.Option(15, "--tasks", help="intents sampled from the model's test split"),
    annotators: int = typer.Option(3, "--annotators", help="answers per task"),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Make the model's batch (once per model and seed): renders and automatic mimicry scores per task."""
    from flywheel.pipeline.reality import prepare as _prepare

    s = get_settings()
    batch = _prepare(s, model_id=model or _production(s),
                     params={"reality_tasks": tasks, "reality_annotators": annotators, "seed": seed})
    console.print(f"[green]✓[/] batch {batch}")


def _production(settings) -> str:
    from flywheel.errors import NotFound
    from flywheel.registry.store import production_model

    prod = production_model(settings)
    if prod is None:
        raise NotFound("no production model yet: pass --model")
    return prod.model_id


@app.command("add-annotator")
def add_annotator(name: str = typer.Argument(...)) -> None:
    """Register an annotator and print their sign-in token (shown once)."""
    from sqlalchemy.orm import Session

    from flywheel.annotate.store import add_annotator as _add
    from flywheel.db.engine import owned_engine

    with owned_engine(get_settings()) as eng, Session(eng) as s, s.begin():
        token = _add(s, name=name)
    typer.echo(f"annotator {name}: token {token}")


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8090, "--port"),
    batch: str | None = typer.Option(None, "--batch", help="serve only this batch"),
) -> None:
    """The annotation app (sign in, get a task, answer relevancy and mimicry)."""
    import uvicorn

    from flywheel.annotate.app import create_app
    from flywheel.db.engine import make_engine

    eng = make_engine(get_settings())
    try:
        uvicorn.run(create_app(eng, batch_id=batch), host=host, port=port, log_level="info")
    finally:
        eng.dispose()


@app.command("report")
def report(
    model: str | None = typer.Option(None, "--model", help="model id (default: the production model)"),
    as_json: bool = typer.Option(False, "--json"),
    out: Path | None = typer.Option(None, "--out", help="also write the summary as JSON here"),
) -> None:
    """The model's reality-check summary: counts, Fleiss' kappa, automatic scores vs annotators."""
    from flywheel.pipeline.reality import summary

    s = get_settings()
    res = summary(s, model_id=model or _production(s))
    if out:
        out.write_text(json.dumps(res.as_dict(), indent=2))
    typer.echo(json.dumps(res.as_dict(), indent=2) if as_json else "\n".join(res.lines()))
