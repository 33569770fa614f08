"""`flywheel keys create|revoke|list`: the assistant's API keys (stored hashed; a key is shown once)."""

from __future__ import annotations

import typer

from flywheel.settings import get_settings

app = typer.Typer(help="Assistant API keys.")


@app.command("create")
def create(app_name: str = typer.Option(..., "--app", help="The app this key is for."),
           note: str = typer.Option("", help="Who/what holds it."),
           rate_per_minute: int = typer.Option(120, help="Requests per minute."),
           teacher_calls_per_day: int = typer.Option(2000, help="Paid teacher calls per day.")) -> None:
    """Create a key; it is printed once and stored only as a sha256."""
    from sqlalchemy.orm import Session

    from flywheel.assistant.keys import create_key
    from flywheel.db.engine import owned_engine

    with owned_engine(get_settings(), None) as eng, Session(eng) as s, s.begin():
        key_id, key = create_key(s, app=app_name, note=note, rate_per_minute=rate_per_minute,
                                 teacher_calls_per_day=teacher_calls_per_day)
    typer.echo(f"id={key_id} app={app_name}")
    typer.echo(key)


@app.command("revoke")
def revoke(key_id: str) -> None:
    """Revoke a key by its id (refused within seconds by every assistant)."""
    from sqlalchemy.orm import Session

    from flywheel.assistant.keys import revoke_key
    from flywheel.db.engine import owned_engine

    with owned_engine(get_settings(), None) as eng, Session(eng) as s, s.begin():
        revoke_key(s, key_id=key_id)
    typer.echo(f"revoked {key_id}")


@app.command("list")
def list_() -> None:
    """Keys (ids, apps, limits, revoked or not); never the keys themselves."""
    from sqlalchemy.orm import Session

    from flywheel.assistant.keys import list_keys
    from flywheel.db.engine import owned_engine
    from flywheel.textable import plain_table

    with owned_engine(get_settings(), None) as eng, Session(eng) as s:
        rows = [[k.id, k.app, k.rate_per_minute, k.teacher_calls_per_day, k.created_at.isoformat(timespec="seconds"),
                 k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else ""] for k in list_keys(s)]
    typer.echo(plain_table(["id", "app", "per_min", "teacher/day", "created", "revoked"], rows))
