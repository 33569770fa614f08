"""CLI: train, predict, evaluate, promote, models, bench inference (bodies stay thin; logic lives in the packages)."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command()
    def train(
        split: str = typer.Option(..., "--split", help="split id"),
        config: Path | None = typer.Option(None, "--config", help="TrainConfig file (.json/.yaml)"),
        split_dir: Path | None = typer.Option(None, "--split-dir", help="split folder (default: artifacts/splits/ID)"),
        model_id: str | None = typer.Option(None, "--model-id"),
        launcher: str = typer.Option("inprocess", help="inprocess | local (subprocess) | kubernetes (render a Job)"),
        no_register: bool = typer.Option(False, "--no-register", help="do not write the registry tables"),
    ) -> None:
        """Fine-tune a student on a stored split (multi-task over the three tools) and evaluate it on the test set."""
        from flywheel.settings import get_settings
        from flywheel.training.config import TrainConfig

        s = get_settings()
        cfg = TrainConfig.from_file(config) if config else TrainConfig()
        if launcher == "inprocess":
            from flywheel.evaluation.metrics import evaluate
            from flywheel.evaluation.table import print_report
            from flywheel.registry.stages import run_training
            from flywheel.training.data import read_jsonl

            r = run_training(s, split, cfg, split_dir=split_dir, model_id=model_id, register=not no_register)
            preds = r.path / "test_predictions.jsonl"
            if preds.is_file():
                test = Path(r.lineage["split_path"]) / "test.jsonl"
                print_report(evaluate(read_jsonl(preds), read_jsonl(test)), model=r.model_id)
            typer.echo(json.dumps({"model_id": r.model_id, "path": str(r.path),
                                   "training_seconds": round(r.training_seconds, 2),
                                   "overall": r.metrics.get("overall")}))
            return
        from flywheel.training.launcher import launch

        typer.echo(launch(s, split, cfg, launcher, split_dir=split_dir, model_id=model_id))

    @app.command()
    def predict(
        model: str = typer.Option(..., "--model", help="model id (registry) or checkpoint folder"),
        input: Path = typer.Option(..., "--input", help="JSONL with an 'intent' per line, or plain text lines"),
        output: Path | None = typer.Option(None, "--output", help="predictions JSONL (default: stdout)"),
        batch_size: int = typer.Option(128, "--batch-size"),
        constrained: bool | None = typer.Option(None, "--constrained/--greedy",
                                                help="decoding mode (default: what the model card says)"),
    ) -> None:
        """Predict tool outputs for intents; invalid outputs are written as raw text and counted."""
        from flywheel.inference.cli_helpers import read_intents
        from flywheel.inference.predictor import load_predictor
        from flywheel.registry.store import resolve_model_dir
        from flywheel.training.data import write_jsonl

        p = load_predictor(resolve_model_dir(model), batch_size=batch_size, constrained=constrained)
        rows = [x.record() for x in p.predict_detailed(read_intents(input), progress=output is not None)]
        if output:
            write_jsonl(output, rows)
        else:
            for r in rows:
                typer.echo(json.dumps(r, ensure_ascii=False))
        typer.echo(f"{len(rows)} intents, invalid outputs: {p.counts['invalid']} of {p.counts['outputs']} "
                   f"({p.invalid_rate:.1%})", err=True)

    @app.command()
    def evaluate(
        predictions: Path = typer.Option(..., "--predictions"),
        references: Path = typer.Option(..., "--references"),
        as_json: bool = typer.Option(False, "--json", help="print the full report as JSON"),
        model_id: str | None = typer.Option(None, "--model-id", help="store the results for this registered model"),
        split_id: str | None = typer.Option(None, "--split-id", help="split the references came from (storing)"),
    ) -> None:
        """The paper's offline metrics (selection P/R/F1, quality, final, overall) for All, r_3 and r_5."""
        from flywheel.evaluation.offline import evaluate_files
        from flywheel.evaluation.table import print_report, report_summary

        report = evaluate_files(predictions, references)
        if as_json:
            typer.echo(json.dumps(report.to_dict(), indent=2))
        else:
            print_report(report, model=model_id or predictions.stem)
        if model_id:
            from flywheel.registry.store import get_model, store_evaluation
            from flywheel.settings import get_settings

            s = get_settings()
            sid = split_id or get_model(s, model_id).split_id
            n = store_evaluation(s, model_id, sid, report_summary(report))
            typer.echo(f"stored {n} evaluation rows for {model_id} on split {sid}", err=True)

    @app.command()
    def promote(model: str = typer.Option(..., "--model", help="candidate model id")) -> None:
        """Apply the promotion gate (margin / floor from settings); the decision is stored with its reason."""
        from flywheel.registry.store import promote as do_promote
        from flywheel.settings import get_settings

        d = do_promote(get_settings(), model)
        typer.echo(d.reason)
        raise typer.Exit(0 if d.promoted else 3)

    @app.command()
    def models() -> None:
        """List registered models (newest first)."""
        from rich.console import Console
        from rich.table import Table

        from flywheel.registry.store import list_models
        from flywheel.settings import get_settings

        t = Table()
        for col in ("id", "status", "backend", "base", "split", "overall", "train s", "created"):
            t.add_column(col, no_wrap=True)
        for m in list_models(get_settings()):
            ov = m.metrics.get("overall")
            t.add_row(m.model_id, m.status, m.backend, m.base, m.split_id, f"{ov:.3f}" if ov is not None else "-",
                      f"{m.training_seconds:.0f}" if m.training_seconds else "-", f"{m.created_at:%Y-%m-%d %H:%M}")
        Console().print(t)

    @bench.command("inference")
    def bench_inference(
        model: str | None = typer.Option(None, "--model", help="model id or folder (default: production model)"),
        requests: int = typer.Option(100, "--requests", help="single requests to time"),
        batch_size: int = typer.Option(64, "--batch-size"),
        teacher_seed: int = typer.Option(0, "--teacher-seed", help="simulator seed of the in-process teacher-server"),
        threads: int = typer.Option(1, "--threads", help="torch threads for the student"),
    ) -> None:
        """Student p50/p95 per request and batch throughput, beside the teacher-server round trip (same run)."""
        from flywheel.bench.inference import bench_inference as run
        from flywheel.bench.inference import print_bench
        from flywheel.registry.store import resolve_model_dir
        from flywheel.settings import get_settings

        s = get_settings()
        print_bench(run(s, resolve_model_dir(model, s), requests=requests, batch_size=batch_size,
                        teacher_seed=teacher_seed, threads=threads))
