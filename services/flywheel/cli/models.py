"""`flywheel models` and `flywheel promote`: the model registry."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from flywheel.settings import get_settings
from flywheel.textable import print_table

app = typer.Typer()


@app.command()
def promote(model: str = typer.Option(..., "--model", help="candidate model id")) -> None:
    """Apply the promotion gate (margin / floor from settings); the decision is stored with its reason."""
    from flywheel.registry.store import promote as do_promote

    d = do_promote(get_settings(), model)
    typer.echo(d.reason)
    raise typer.Exit(0 if d.promoted else 3)


@app.command()
def models() -> None:
    """List registered models (newest first)."""
    from flywheel.registry.store import list_models

    t = Table()
    for col in ("id", "status", "backend", "base", "split", "overall", "train s", "created"):
        t.add_column(col, no_wrap=True)
    for m in list_models(get_settings()):
        ov = m.metrics.get("overall")
        t.add_row(m.model_id, m.status, m.backend, m.base, m.split_id, f"{ov:.3f}" if ov is not None else "-",
                  f"{m.training_seconds:.0f}" if m.training_seconds else "-", f"{m.created_at:%Y-%m-%d %H:%M}")
    print_table(Console(), t)
