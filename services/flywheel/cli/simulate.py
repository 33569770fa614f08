"""simulate / teacher-server / assistant / experiment: the online side and its known-answer traffic."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from flywheel.settings import get_settings

console = Console()


def _fail(msg: str) -> None:
    console.print(f"[red]error:[/] {msg}")
    raise typer.Exit(2)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    exp = typer.Typer(help="A/B experiments (table-backed assistant routing).", no_args_is_help=True)
    app.add_typer(exp, name="experiment")

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
        as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    ) -> None:
        """Publish the app's events (projects, intents, responses, exports) for a seeded known-answer world."""
        from flywheel.simulator.run import simulate as _simulate

        try:
            summary = _simulate(get_settings(), intents, days, seed, rate=rate, via_assistant_url=via_assistant,
                                progress=not as_json, base_intents=base_intents,
                                requests_per_intent=requests_per_intent, workers=workers)
        except ValueError as exc:
            _fail(str(exc))
        if as_json:
            typer.echo(json.dumps(summary.as_dict(), indent=2))
            return
        s = summary
        console.print(f"[green]✓[/] {s.events} events ({s.events_per_s:.0f}/s, {s.seconds:.1f}s) to {s.topic}: "
                      f"{s.projects} projects ({s.projects_exported} exported), {s.requests} requests over "
                      f"{s.unique_intents} distinct intents; failed requests {s.failed_requests}")
        console.print(f"  hidden truth: {s.truth_path}")

    @bench.command("simulate")
    def bench_simulate(
        intents: int = typer.Option(9252, "--intents", help="Paper scale: 9,252 intents, 27,756 responses."),
        seed: int = typer.Option(0, "--seed"),
    ) -> None:
        """Simulator throughput (events/s) at the paper's scale, into a throwaway topic."""
        import uuid

        from flywheel.simulator.run import simulate as _simulate

        s = get_settings()
        s = s.model_copy(update={"events_topic": f"bench.simulate.{uuid.uuid4().hex[:8]}"})
        r = _simulate(s, intents, 120.0, seed, progress=True)
        console.print(f"[green]✓[/] {r.events} events, {r.requests} responses over {r.unique_intents} intents in "
                      f"{r.seconds:.1f}s = [bold]{r.events_per_s:.0f} events/s[/] (topic {r.topic})")

    @app.command("teacher-server")
    def teacher_server(
        port: int | None = typer.Option(None, "--port", help="Default: settings.teacher_port (8601)."),
        host: str = typer.Option("127.0.0.1", "--host"),
        seed: int = typer.Option(0, "--seed", help="The simulator world to answer from (use the simulate seed)."),
        base_intents: int = typer.Option(600, "--base-intents"),
        delay_ms: float = typer.Option(0.0, "--delay-ms", help="Added think time per completion."),
    ) -> None:
        """Local OpenAI-compatible /v1/chat/completions backed by the simulator's teacher."""
        from flywheel.simulator.teacher_server import serve

        serve(seed, port or get_settings().teacher_port, host=host, base_intents=base_intents, delay_ms=delay_ms)

    @app.command()
    def assistant(
        port: int | None = typer.Option(None, "--port", help="Default: settings.assistant_port (8602)."),
        host: str = typer.Option("127.0.0.1", "--host"),
    ) -> None:
        """The assistant HTTP service: POST /v1/edits with A/B routing between teacher and student."""
        from flywheel.assistant.app import serve

        serve(get_settings(), port, host)

    def _engine():  # noqa: ANN202
        from flywheel.db.engine import make_engine

        return make_engine(get_settings())

    def _show(cfg) -> None:  # noqa: ANN001
        arms = ", ".join(f"{a.arm}={a.weight:g} ({a.backend}{':' + a.model_ref if a.model_ref else ''})"
                         for a in cfg.arms)
        console.print(f"[bold]{cfg.experiment_id}[/] {cfg.name!r} status={cfg.status} salt={cfg.salt} "
                      f"started={cfg.started_at} ended={cfg.ended_at} arms: {arms}")

    @exp.command("create")
    def exp_create(
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
            _fail(str(exc))

    @exp.command("activate")
    def exp_activate(experiment_id: str) -> None:
        """Make EXPERIMENT_ID the active experiment (ends the one before)."""
        from flywheel.db.experiments import ExperimentError, activate_experiment

        try:
            _show(activate_experiment(_engine(), experiment_id))
        except ExperimentError as exc:
            _fail(str(exc))

    @exp.command("end")
    def exp_end(experiment_id: str) -> None:
        """End EXPERIMENT_ID (the assistant falls back to the teacher if no other is active)."""
        from flywheel.db.experiments import ExperimentError, end_experiment

        try:
            _show(end_experiment(_engine(), experiment_id))
        except ExperimentError as exc:
            _fail(str(exc))

    @exp.command("list")
    def exp_list() -> None:
        """All experiments, newest first."""
        from flywheel.db.experiments import list_experiments

        rows = list_experiments(_engine())
        if not rows:
            console.print("no experiments (everyone is served by the teacher)")
        for cfg in rows:
            _show(cfg)
