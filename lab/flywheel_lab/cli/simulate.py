"""`flywheel simulate`: the app's traffic from the known-answer world."""

from __future__ import annotations

import json

import typer

from flywheel.cli.common import console, fail
from flywheel.settings import get_settings

app = typer.Typer()


@app.command()
def simulate(
    intents: int = typer.Option(500, "--intents", help="Distinct intent_norm to produce (paper: 9252)."),
    days: float = typer.Option(30.0, "--days", help="Simulated period the events spread over."),
    seed: int = typer.Option(0, "--seed"),
    rate: float | None = typer.Option(None, "--rate", help="Cap on published events per second."),
    via_assistant: str | None = typer.Option(None, "--via-assistant",
                                             help="Drive the assistant at this URL instead of publishing "
                                                  "teacher answers directly (e.g. http://127.0.0.1:8602)."),
    base_intents: int = typer.Option(600, "--base-intents", help="Base intents (paraphrase families)."),
    requests_per_intent: float = typer.Option(3.0, "--requests-per-intent",
                                              help="Teacher responses per distinct intent (paper: 3.0)."),
    workers: int = typer.Option(8, "--workers", help="Concurrent users when driving the assistant."),
    api_key: str | None = typer.Option(None, "--api-key", envvar="FLYWHEEL_ASSISTANT_API_KEY",
                                       help="Assistant API key for --via-assistant (`flywheel keys create`)."),
    new_share: float = typer.Option(0.0, "--new-share", min=0.0, max=1.0,
                                    help="Share of the projects asking intents never seen in the --intents catalogue "
                                         "(an A/B day after collection; 0: none)."),
    period: int = typer.Option(1, "--period", min=1,
                               help="Which day after collection the never-seen intents are for (1, 2, ...): each "
                                    "day's are new, disjoint from every other day's."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Publish the app's events (projects, intents, responses, exports) for a seeded known-answer world."""
    from flywheel_lab.simulator.run import simulate as _simulate

    try:
        s = _simulate(get_settings(), intents, days, seed, rate=rate, via_assistant_url=via_assistant,
                      progress=not as_json, base_intents=base_intents,
                      requests_per_intent=requests_per_intent, workers=workers, api_key=api_key,
                      new_share=new_share, period=period)
    except ValueError as exc:
        fail(str(exc), mark="[red]error:[/]")
    if as_json:
        typer.echo(json.dumps(s.as_dict(), indent=2))
        return
    console.print(f"[green]✓[/] {s.events} events ({s.events_per_s:.0f}/s, {s.seconds:.1f}s) to {s.topic}: "
                  f"{s.projects} projects ({s.projects_exported} exported), {s.requests} requests over "
                  f"{s.unique_intents} distinct intents; failed requests {s.failed_requests}")
    if s.new_requests:
        console.print(f"  {s.new_requests} requests of {s.new_intents} never-seen intents")
    console.print(f"  hidden truth: {s.truth_path}")
