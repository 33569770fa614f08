"""`flywheel mlflow`: the MLflow tracking server (UI + REST API) on loopback over the platform's tracking store."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import typer

from flywheel.cli.common import console
from flywheel.errors import ServiceUnavailable
from flywheel.settings import Settings, get_settings

app = typer.Typer()


def server_command(settings: Settings, port: int, host: str = "127.0.0.1") -> list[str]:
    """The `mlflow server` command line: the platform's backend store, the artifacts folder, loopback by default."""
    from flywheel import tracking

    uri = tracking.ensure_backend(settings)
    root = tracking.artifact_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("mlflow", path=os.path.dirname(sys.executable)) or shutil.which("mlflow")
    if exe is None:
        raise ServiceUnavailable("the `mlflow` command is not installed (pip install -c constraints.txt mlflow)")
    return [exe, "server", "--backend-store-uri", uri, "--registry-store-uri", uri,
            "--default-artifact-root", root.as_uri(), "--host", host, "--port", str(port), "--workers", "1"]


@app.command()
def mlflow(
    port: int = typer.Option(None, help="port (default: FLYWHEEL_MLFLOW_PORT)"),
    host: str = typer.Option("127.0.0.1", help="bind address (loopback; 0.0.0.0 only inside a container)"),
) -> None:
    """MLflow UI on loopback over the platform's runs (experiment FLYWHEEL_MLFLOW_EXPERIMENT); Ctrl-C stops it."""
    s = get_settings()
    port = port or s.mlflow_port
    cmd = server_command(s, port, host)
    console.print(f"MLflow on http://{host}:{port}  experiment [bold]{s.mlflow_experiment}[/], registered model "
                  f"[bold]{s.mlflow_registered_model}[/] (alias `production`). Ctrl-C stops it.")
    proc = subprocess.Popen(cmd)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
