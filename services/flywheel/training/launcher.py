"""Launcher seam so an orchestrator can "trigger GPU fine-tuning" without knowing where it runs.

- ``local``: runs ``python -m flywheel.training`` as a subprocess on this machine (settings travel as
  ``FLYWHEEL_*`` environment variables; ``accelerate launch`` with one process per GPU when ``processes > 1``) and
  returns the new model id once it is trained, registered and evaluated.
- ``kubernetes``: :func:`job_spec` builds the batch/v1 Job that runs the same entry in ``settings.train_image``: the
  TrainConfig travels in the command line, the database URL comes from a Secret, the artifacts volume and a memory
  ``/dev/shm`` are mounted, GPUs, tolerations, node selector, service account and pull secret come from settings.
  The nightly DAG submits it with the provider's ``KubernetesJobOperator`` and waits for it (this package never
  imports Airflow); ``launch`` writes it to a file for ``kubectl apply -f``.

Either way ``launch`` returns a ``LaunchResult``: the model id (chosen before the run, so a Job registers under the id
the caller already knows), whether the model is trained yet, and the manifest's path for Kubernetes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from flywheel.training.config import TrainConfig
from flywheel.training.train import new_model_id

ARTIFACTS_MOUNT = "/artifacts"
# The container name the KubernetesJobOperator merges its own pod settings into and streams logs from.
CONTAINER = "base"


class LaunchFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class LaunchResult:
    model_id: str
    launcher: str
    manifest_path: Path | None = None  # kubernetes: the rendered Job, not applied

    @property
    def trained(self) -> bool:
        """True when the model is trained, registered and evaluated (local); False while a Job is only rendered."""
        return self.manifest_path is None


def settings_env(settings: Any) -> dict[str, str]:
    """Settings as FLYWHEEL_* variables, so a child process sees exactly the caller's settings."""
    env = {}
    for key, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, Path):
            value = str(Path(value).resolve())
        elif isinstance(value, dict | list):
            value = json.dumps(value)
        env[f"FLYWHEEL_{key.upper()}"] = str(value)
    env["FLYWHEEL_DATABASE_URL"] = settings.db_url()
    return env


def train_command(split_id: str, model_id: str, config: TrainConfig, *, processes: int = 1,
                  python: str = "python", airflow_run_id: str | None = None,
                  split_dir: str | Path | None = None) -> list[str]:
    """The training entry's command line; with several processes, one per GPU through ``accelerate launch``."""
    if processes > 1:
        cmd = [python, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", str(processes),
               "--num_machines", "1", "-m", "flywheel.training"]
    else:
        cmd = [python, "-m", "flywheel.training"]
    cmd += ["--split", split_id, "--model-id", model_id, "--config-json", config.model_dump_json()]
    if split_dir is not None:
        cmd += ["--split-dir", str(Path(split_dir).resolve())]
    if airflow_run_id:
        cmd += ["--airflow-run-id", airflow_run_id]
    return cmd


def _k8s_name(model_id: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"flywheel-train-{model_id}".lower())[:63].rstrip("-")


def _job_env(settings: Any) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "FLYWHEEL_ARTIFACTS_DIR", "value": ARTIFACTS_MOUNT},
        {"name": "FLYWHEEL_DATABASE_URL",
         "valueFrom": {"secretKeyRef": {"name": settings.k8s_db_secret, "key": "url"}}},
        # Hub models (flan-t5, Llama) are downloaded once onto the artifacts volume, not into every pod.
        {"name": "HF_HOME", "value": f"{ARTIFACTS_MOUNT}/hf-cache"},
    ]
    for key in ("promotion_margin", "promotion_floor", "mlflow_enabled", "mlflow_database", "mlflow_experiment",
                "mlflow_registered_model", "mlflow_tracking_uri"):
        value = getattr(settings, key)
        if value is not None:
            env.append({"name": f"FLYWHEEL_{key.upper()}", "value": str(value)})
    return env


def _pod_spec(settings: Any, cmd: list[str], labels: dict[str, str], gpus: int) -> dict[str, Any]:
    limits: dict[str, Any] = {settings.k8s_gpu_resource: gpus} if gpus else {}
    if settings.k8s_memory_limit:
        limits["memory"] = settings.k8s_memory_limit
    container = {
        "name": CONTAINER, "image": settings.train_image, "command": cmd, "env": _job_env(settings),
        "resources": {"limits": limits,
                      "requests": {"cpu": settings.k8s_cpu_request, "memory": settings.k8s_memory_request}},
        "volumeMounts": [{"name": "artifacts", "mountPath": ARTIFACTS_MOUNT},
                         {"name": "dshm", "mountPath": "/dev/shm"}],
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [{"name": "artifacts", "persistentVolumeClaim": {"claimName": settings.k8s_artifacts_pvc}},
                    # NCCL and torch data loading need more shared memory than a container's default 64 MiB.
                    {"name": "dshm", "emptyDir": {"medium": "Memory"}}],
        "tolerations": [dict(t) for t in settings.k8s_tolerations],
    }
    if settings.k8s_node_selector:
        pod["nodeSelector"] = dict(settings.k8s_node_selector)
    if settings.k8s_service_account:
        pod["serviceAccountName"] = settings.k8s_service_account
    if settings.k8s_image_pull_secret:
        pod["imagePullSecrets"] = [{"name": settings.k8s_image_pull_secret}]
    return {"metadata": {"labels": labels}, "spec": pod}


def job_spec(settings: Any, *, split_id: str, config: TrainConfig, model_id: str, gpus: int | None = None,
             airflow_run_id: str | None = None) -> dict[str, Any]:
    """The batch/v1 Job that trains, registers and evaluates ``model_id`` on ``split_id`` (one process per GPU).

    A retried pod (``backoffLimit``) resumes from the run's checkpoint on the artifacts volume."""
    gpus = settings.k8s_gpus if gpus is None else gpus
    labels = {"app.kubernetes.io/name": "flywheel-train", "flywheel/model-id": _k8s_name(model_id)[15:],
              "flywheel/split-id": re.sub(r"[^A-Za-z0-9_.-]", "-", split_id)[:63]}
    cmd = train_command(split_id, model_id, config, processes=max(1, gpus), airflow_run_id=airflow_run_id)
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": _k8s_name(model_id), "namespace": settings.k8s_namespace, "labels": labels},
        "spec": {
            "backoffLimit": 1,
            "activeDeadlineSeconds": settings.k8s_job_timeout_s,
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": _pod_spec(settings, cmd, labels, gpus),
        },
    }


def write_job(settings: Any, job: dict[str, Any], model_id: str) -> Path:
    path = Path(settings.artifacts_dir).resolve() / "launches" / f"{model_id}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(job, sort_keys=False))
    return path


def local_processes() -> int:
    """One training process per visible GPU (1 on CPU)."""
    import torch

    return max(1, torch.cuda.device_count()) if torch.cuda.is_available() else 1


def launch(settings: Any, split_id: str, config: TrainConfig, launcher: str = "local", *,
           split_dir: str | Path | None = None, model_id: str | None = None, timeout_s: float | None = None,
           airflow_run_id: str | None = None, processes: int | None = None) -> LaunchResult:
    """Start a training run: local trains now; kubernetes renders the Job (the model appears when it has run)."""
    model_id = model_id or new_model_id()
    if launcher == "kubernetes":
        job = job_spec(settings, split_id=split_id, config=config, model_id=model_id, airflow_run_id=airflow_run_id)
        return LaunchResult(model_id, launcher, manifest_path=write_job(settings, job, model_id))
    if launcher != "local":
        raise ValueError(f"unknown launcher {launcher!r}: use 'local' or 'kubernetes'")
    run_dir = Path(settings.artifacts_dir) / "launches" / model_id
    run_dir.mkdir(parents=True, exist_ok=True)
    config.to_file(run_dir / "train_config.json")
    cmd = train_command(split_id, model_id, config, processes=processes or local_processes(), python=sys.executable,
                        airflow_run_id=airflow_run_id, split_dir=split_dir)
    log_path = run_dir / "train.log"
    with log_path.open("w") as log:
        # PASSIVE: idle OpenMP threads sleep instead of spinning (a shared CPU otherwise thrashes).
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", **settings_env(settings)}
        proc = subprocess.run(cmd, env=env, stdout=log,
                              stderr=subprocess.STDOUT, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        tail = log_path.read_text()[-2000:]
        raise LaunchFailed(f"local training exited with {proc.returncode}; log {log_path}:\n{tail}")
    last = [ln for ln in log_path.read_text().splitlines() if ln.startswith("{")]
    if not last or json.loads(last[-1]).get("model_id") != model_id:
        raise LaunchFailed(f"training finished but reported no model id; see {log_path}")
    return LaunchResult(model_id, launcher)
