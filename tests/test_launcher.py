"""Launchers: the Kubernetes Job manifest (rendered, not applied) and the local subprocess run for real, then the
model in the registry, its stored evaluations, offline re-evaluation and promotion."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import text

from flywheel.training.config import TrainConfig
from flywheel.training.launcher import launch, render_job, settings_env
from tests.support.splits import make_split_dir

SMALL = {"d_model": 64, "d_ff": 256, "num_heads": 4, "vocab_size": 512}


def test_kubernetes_manifest(settings) -> None:
    s = settings.model_copy(update={"train_image": "registry.example/flywheel:1.2.3", "k8s_namespace": "ml"})
    cfg = TrainConfig(epochs=3, base_model="google/flan-t5-base")
    res = launch(s, "sp-42", cfg, launcher="kubernetes", model_id="m-K8S_1")
    assert res.model_id == "m-K8S_1" and not res.trained and res.manifest_path is not None
    manifest = Path(res.manifest_path).read_text()
    docs = list(yaml.safe_load_all(manifest))
    cm, job = docs
    assert cm["kind"] == "ConfigMap" and job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert TrainConfig.model_validate_json(cm["data"]["train_config.json"]) == cfg
    assert job["metadata"]["name"] == "flywheel-train-m-k8s-1" and job["metadata"]["namespace"] == "ml"
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    c = pod["containers"][0]
    assert c["image"] == "registry.example/flywheel:1.2.3"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert c["command"][:4] == ["flywheel", "train", "--split", "sp-42"]
    assert "--model-id" in c["command"] and "m-K8S_1" in c["command"]
    assert c["command"][-1] == "/config/train_config.json"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts == {"artifacts": "/artifacts", "config": "/config"}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["artifacts"]["persistentVolumeClaim"]["claimName"] == s.k8s_artifacts_pvc
    assert vols["config"]["configMap"]["name"] == cm["metadata"]["name"]
    env = {e["name"]: e for e in c["env"]}
    assert env["FLYWHEEL_ARTIFACTS_DIR"]["value"] == "/artifacts"
    assert env["FLYWHEEL_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == s.k8s_db_secret
    # The password-bearing DB URL is never written into the manifest.
    assert s.db_url() not in manifest
    assert render_job(s, "sp-42", cfg, "m-K8S_1", gpus=4)[1]["spec"]["template"]["spec"]["containers"][0][
        "resources"]["limits"]["nvidia.com/gpu"] == 4


def test_unknown_launcher_is_an_error(settings) -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown launcher"):
        launch(settings, "sp", TrainConfig(), launcher="slurm")


def test_settings_travel_to_the_child(settings) -> None:
    env = settings_env(settings)
    assert env["FLYWHEEL_DATABASE_URL"] == settings.db_url()
    assert env["FLYWHEEL_ARTIFACTS_DIR"] == str(settings.artifacts_dir.resolve())


def test_local_launch_trains_registers_evaluates_and_promotes(settings, engine, tmp_path) -> None:
    from flywheel.registry.stages import evaluate_model
    from flywheel.registry.store import get_model, production_model, promote

    split_dir = make_split_dir(tmp_path, "sp-local", n_base=24, test_size=28)
    cfg = TrainConfig(epochs=6, batch_size=32, tiny=SMALL)
    res = launch(settings, "sp-local", cfg, launcher="local", split_dir=split_dir, model_id="m-local")
    assert res.model_id == "m-local" and res.trained and res.manifest_path is None
    model_id = res.model_id
    rec = get_model(settings, model_id)
    assert rec.status == "candidate" and rec.split_id == "sp-local" and rec.groundtruth_run_id == "gt-test"
    assert rec.training_seconds and rec.training_seconds > 0 and rec.config["epochs"] == 6
    with engine.connect() as c:
        rows = c.execute(text("SELECT subset, tool, overall FROM evaluations WHERE model_id = 'm-local'")).all()
    assert {(r.subset, r.tool) for r in rows} == {(s, t) for s in ("All", "r_3", "r_5")
                                                  for t in ("adjust", "selective_adjust", "filter")}
    # Offline re-evaluation from the saved checkpoint gives the stored numbers again (deterministic decoding).
    again = evaluate_model(settings, model_id, "sp-local", split_dir=split_dir)
    assert abs(again["overall"] - rec.metrics["overall"]) < 1e-9
    # The gate decides with a reason; with a floor of 0 the first model must be promoted.
    d = promote(settings.model_copy(update={"promotion_floor": 0.0}), model_id)
    assert d.promoted, d.reason
    assert production_model(settings).path == rec.path
