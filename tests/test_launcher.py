"""Launchers: the Kubernetes Job manifest (rendered, not applied) and the local subprocess run for real, then the
model in the registry, its stored evaluations, offline re-evaluation and promotion."""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import text

from flywheel.training.config import NgramConfig, Seq2SeqConfig, TrainConfig, parse_train_config, train_config_from_json
from flywheel.training.launcher import job_spec, launch, settings_env
from tests.support.splits import make_split_dir

REPO = Path(__file__).resolve().parents[1]


def _k8s_settings(settings):
    return settings.model_copy(update={
        "train_image": "registry.example/flywheel-train:1.2.3", "k8s_namespace": "ml", "k8s_gpus": 2,
        "k8s_node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
        "k8s_tolerations": [{"key": "gpu-pool", "operator": "Equal", "value": "train", "effect": "NoSchedule"}],
        "k8s_service_account": "flywheel-train", "k8s_image_pull_secret": "ghcr", "k8s_memory_limit": "64Gi",
        "mlflow_experiment": "students-x"})


def _check_job(job: dict, s, cfg: TrainConfig, model_id: str = "m-K8S_1") -> None:
    """What the training Job must carry, whether rendered by flywheel or built by the Airflow operator."""
    assert job["kind"] == "Job" and job["apiVersion"] == "batch/v1"
    assert job["metadata"]["namespace"] == "ml" and job["spec"]["backoffLimit"] == 1
    assert job["spec"]["activeDeadlineSeconds"] == s.k8s_job_timeout_s
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert pod["tolerations"] == [{"key": "gpu-pool", "operator": "Equal", "value": "train", "effect": "NoSchedule"}]
    assert pod["serviceAccountName"] == "flywheel-train" and pod["imagePullSecrets"] == [{"name": "ghcr"}]
    (c,) = pod["containers"]
    assert c["name"] == "base" and c["image"] == "registry.example/flywheel-train:1.2.3"
    assert str(c["resources"]["limits"]["nvidia.com/gpu"]) == "2" and c["resources"]["limits"]["memory"] == "64Gi"
    cmd = c["command"]
    # Two GPUs: one process each through accelerate, into the same training entry.
    assert cmd[:3] == ["python", "-m", "accelerate.commands.launch"] and cmd[cmd.index("--num_processes") + 1] == "2"
    assert cmd[cmd.index("-m", 3) + 1] == "flywheel.training"
    assert cmd[cmd.index("--split") + 1] == "sp-42" and cmd[cmd.index("--model-id") + 1] == model_id
    assert train_config_from_json(cmd[cmd.index("--config-json") + 1]) == cfg
    assert cmd[cmd.index("--airflow-run-id") + 1] == "manual__k8s"
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts == {"artifacts": "/artifacts", "dshm": "/dev/shm"}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["artifacts"]["persistentVolumeClaim"]["claimName"] == s.k8s_artifacts_pvc
    assert vols["dshm"]["emptyDir"]["medium"] == "Memory"
    env = {e["name"]: e for e in c["env"]}
    assert env["FLYWHEEL_ARTIFACTS_DIR"]["value"] == "/artifacts"
    assert env["FLYWHEEL_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": s.k8s_db_secret, "key": "url"}
    assert env["FLYWHEEL_MLFLOW_EXPERIMENT"]["value"] == "students-x"
    assert env["HF_HOME"]["value"].startswith("/artifacts/")


def test_kubernetes_job_spec(settings) -> None:
    s = _k8s_settings(settings)
    cfg = Seq2SeqConfig(epochs=3, base_model="google/flan-t5-base")
    res = launch(s, "sp-42", cfg, launcher="kubernetes", model_id="m-K8S_1", airflow_run_id="manual__k8s")
    assert res.model_id == "m-K8S_1" and not res.trained and res.manifest_path is not None
    manifest = Path(res.manifest_path).read_text()
    job = yaml.safe_load(manifest)
    assert job["metadata"]["name"] == "flywheel-train-m-k8s-1"
    _check_job(job, s, cfg)
    # The password-bearing DB URL is never written into the manifest.
    assert s.db_url() not in manifest
    one = job_spec(s, split_id="sp-42", config=cfg, model_id="m-K8S_1", gpus=1)
    c = one["spec"]["template"]["spec"]["containers"][0]
    assert c["command"][:3] == ["python", "-m", "flywheel.training"]
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    no_gpu = job_spec(s.model_copy(update={"k8s_node_selector": {}, "k8s_memory_limit": None}), split_id="sp",
                      config=cfg, model_id="m", gpus=0)["spec"]["template"]["spec"]
    assert "nodeSelector" not in no_gpu and no_gpu["containers"][0]["resources"]["limits"] == {}


def test_the_dags_job_operator_submits_that_job(settings, tmp_path) -> None:
    """The nightly DAG's KubernetesJobOperator, built as the DAG builds it, turns the planned Job file into the
    V1Job it would submit; no cluster is contacted (a kubeconfig pointing nowhere only satisfies the client)."""
    from kubernetes.client import ApiClient

    from flywheel.pipeline.nightly import plan_training

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "none", "user": {"token": "unused"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}]}))
    s = _k8s_settings(settings)
    params = {"launcher": "kubernetes", "backend": "seq2seq", "base_model": "google/flan-t5-base", "epochs": 3}
    plan = plan_training(s, split_id="sp-42", params=params, airflow_run_id="manual__k8s")
    assert plan["launcher"] == "kubernetes" and Path(plan["job_file"]).is_file()

    import importlib.util

    spec = importlib.util.spec_from_file_location("flywheel_nightly_dag", REPO / "dags" / "flywheel_nightly.py")
    dagmod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dagmod)
    op = dagmod.train_kubernetes()
    assert op.wait_until_job_complete and op.deferrable and op.get_logs
    op.job_template_file = plan["job_file"]  # what the template renders from the plan's XCom
    op.config_file = str(kubeconfig)
    job = ApiClient().sanitize_for_serialization(op.build_job_request_obj(None))
    # The model id is chosen before the Job runs, so the DAG knows what the Job registers.
    _check_job(job, s, parse_train_config({k: v for k, v in params.items() if k != "launcher"}), plan["model_id"])
    assert job["metadata"]["name"] == f"job-{plan['job_name']}"


def test_unknown_launcher_is_an_error(settings) -> None:
    import pytest

    with pytest.raises(ValueError, match="unknown launcher"):
        launch(settings, "sp", NgramConfig(), launcher="slurm")


def test_settings_travel_to_the_child(settings) -> None:
    env = settings_env(settings)
    assert env["FLYWHEEL_DATABASE_URL"] == settings.db_url()
    assert env["FLYWHEEL_ARTIFACTS_DIR"] == str(settings.artifacts_dir.resolve())


def test_local_launch_trains_registers_evaluates_and_promotes(settings, engine, tmp_path) -> None:
    from flywheel.registry.stages import evaluate_model
    from flywheel.registry.store import get_model, production_model, promote

    split_dir = make_split_dir(tmp_path, "sp-local", n_base=24, test_size=28)
    cfg = NgramConfig(epochs=6, batch_size=32)
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
