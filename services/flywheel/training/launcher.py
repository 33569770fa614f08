"""Launcher seam so an orchestrator can "trigger GPU fine-tuning" without knowing where it runs.

- ``local``: runs ``python -m flywheel.registry.stages`` as a subprocess on this machine (settings travel as
  ``FLYWHEEL_*`` environment variables) and returns the new model id once it is trained, registered and evaluated.
- ``kubernetes``: renders a ConfigMap (the TrainConfig) + a batch/v1 Job requesting ``nvidia.com/gpu`` that runs
  ``flywheel train`` in ``settings.train_image`` with the artifacts volume mounted and writes it to a file.
  Applying it (``kubectl apply -f``) is the cluster's job.

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
CONFIG_MOUNT = "/config"


class LaunchFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class LaunchResult:
    model_id: str
    launcher: str
    manifest_path: Path | None = None  # kubernetes: the rendered ConfigMap + Job, not applied

    @property
    def trained(self) -> bool:
        """True when the model is trained, registered and evaluated (local); False while a Job is only rendered."""
        return self.manifest_path is None


def settings_env(settings: Any) -> dict[str, str]:
    """Settings as FLYWHEEL_* variables, so a child process sees exactly the caller's settings."""
    env = {}
    for key, value in settings.model_dump().items():
        if value is not None:
            env[f"FLYWHEEL_{key.upper()}"] = str(Path(value).resolve()) if isinstance(value, Path) else str(value)
    env["FLYWHEEL_DATABASE_URL"] = settings.db_url()
    return env


def _k8s_name(model_id: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", f"flywheel-train-{model_id}".lower())[:63].rstrip("-")


def render_job(settings: Any, split_id: str, config: TrainConfig, model_id: str, gpus: int = 1) -> list[dict]:
    name = _k8s_name(model_id)
    labels = {"app.kubernetes.io/name": "flywheel-train", "flywheel/model-id": model_id, "flywheel/split-id": split_id}
    configmap = {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": settings.k8s_namespace, "labels": labels},
        "data": {"train_config.json": config.model_dump_json(indent=2)},
    }
    env = [
        {"name": "FLYWHEEL_ARTIFACTS_DIR", "value": ARTIFACTS_MOUNT},
        {"name": "FLYWHEEL_DATABASE_URL",
         "valueFrom": {"secretKeyRef": {"name": settings.k8s_db_secret, "key": "url"}}},
        {"name": "FLYWHEEL_PROMOTION_MARGIN", "value": str(settings.promotion_margin)},
        {"name": "FLYWHEEL_PROMOTION_FLOOR", "value": str(settings.promotion_floor)},
    ]
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": settings.k8s_namespace, "labels": labels},
        "spec": {
            "backoffLimit": 1,
            "ttlSecondsAfterFinished": 7 * 24 * 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{
                        "name": "train",
                        "image": settings.train_image,
                        "command": ["flywheel", "train", "--split", split_id, "--model-id", model_id,
                                    "--config", f"{CONFIG_MOUNT}/train_config.json"],
                        "env": env,
                        "resources": {"limits": {"nvidia.com/gpu": gpus},
                                      "requests": {"cpu": "4", "memory": "16Gi"}},
                        "volumeMounts": [{"name": "artifacts", "mountPath": ARTIFACTS_MOUNT},
                                         {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True}],
                    }],
                    "volumes": [
                        {"name": "artifacts", "persistentVolumeClaim": {"claimName": settings.k8s_artifacts_pvc}},
                        {"name": "config", "configMap": {"name": name}},
                    ],
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                },
            },
        },
    }
    return [configmap, job]


def launch(settings: Any, split_id: str, config: TrainConfig, launcher: str = "local", *,
           split_dir: str | Path | None = None, model_id: str | None = None, timeout_s: float | None = None,
           airflow_run_id: str | None = None) -> LaunchResult:
    """Start a training run: local trains now; kubernetes renders the Job (the model appears when it has run)."""
    model_id = model_id or new_model_id()
    if launcher == "kubernetes":
        docs = render_job(settings, split_id, config, model_id)
        path = Path(settings.artifacts_dir) / "launches" / f"{model_id}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        return LaunchResult(model_id, launcher, manifest_path=path)
    if launcher != "local":
        raise ValueError(f"unknown launcher {launcher!r}: use 'local' or 'kubernetes'")
    run_dir = Path(settings.artifacts_dir) / "launches" / model_id
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path = config.to_file(run_dir / "train_config.json")
    cmd = [sys.executable, "-m", "flywheel.registry.stages", "--split", split_id, "--model-id", model_id,
           "--config", str(cfg_path)]
    if split_dir is not None:
        cmd += ["--split-dir", str(Path(split_dir).resolve())]
    if airflow_run_id:
        cmd += ["--airflow-run-id", airflow_run_id]
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
