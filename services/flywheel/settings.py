"""One typed settings object for the whole platform (env prefix ``FLYWHEEL_``).

Build it with :func:`get_settings`; nothing here reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Schemas, SQL and migrations ship inside the package, so an installed wheel needs no checkout.
PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_SCHEMAS_DIR = PACKAGE_DIR / "schemas"
MIGRATIONS_DIR = PACKAGE_DIR / "migrations"
# Only a checkout has the Airflow DAG files (services/flywheel -> the repository root's dags/).
CHECKOUT_DAGS_DIR = PACKAGE_DIR.parents[1] / "dags"


class SettingsPathError(RuntimeError):
    """A setting points at something that is not there."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FLYWHEEL_", env_file=".env", extra="ignore")

    # Where embedded services keep their data, logs and PID files.
    state_dir: Path = Path(".flywheel")

    # External services. When set, `flywheel up` starts nothing and everything talks to these.
    database_url: str | None = Field(default=None, description="SQLAlchemy URL of a real Postgres")
    kafka_bootstrap: str | None = Field(default=None, description="host:port[,host:port] of a real Kafka")

    # Embedded services (used only when the URLs above are unset).
    pg_port: int = 55432
    pg_database: str = "flywheel"
    pg_user: str = "postgres"
    # Unset -> the password `flywheel up` generated at the first initdb (<state_dir>/postgres/password, 0600).
    pg_password: str | None = None
    # The read-only analyst login (`flywheel sql`): it sees schema `analytics` and nothing else. `flywheel db upgrade`
    # creates it; unset password -> the one generated then (<state_dir>/analyst_password, 0600).
    analyst_user: str = "flywheel_analyst"
    analyst_password: str | None = None
    # Postgres' own default (128MB) makes ground truth over millions of events read its aggregates from the OS cache
    # page by page: at 10M events an incremental run took 5.7 s with it and 3.9 s with 1GB (datasets/README.md).
    # Memory is taken as pages are used, not at start.
    pg_shared_buffers: str = Field(default="1GB", pattern=r"^[0-9]+(kB|MB|GB)$")
    # Postgres' own default (16MB at most) is shorter than a night's burst of WAL (~250MB at 10M events + 100k, mostly
    # the first write of each page after a checkpoint): the run then writes its WAL out itself instead of leaving it
    # to the WAL writer on another core. 128MB took 0.13 s off such a night (datasets/README.md). -1 = Postgres' own.
    pg_wal_buffers: str = Field(default="128MB", pattern=r"^([0-9]+(kB|MB|GB)|-1)$")
    kafka_port: int = 19092

    # Topics.
    events_topic: str = "flywheel.events.v1"
    dead_letter_topic: str = "flywheel.events.dlq"
    topic_partitions: int = 4

    # Contracts.
    schemas_dir: Path = DEFAULT_SCHEMAS_DIR

    # Airflow's DAG folder; unset -> the checkout's dags/ (a wheel install must set it to use Airflow).
    dags_folder: Path | None = None
    # Who hears about a failed DAG task (flywheel.notify): every channel that is set gets each failure; with none set
    # it is logged (the task log) only. The webhook gets JSON {dag_id, run_id, task_id, error, ...}; Slack an
    # incoming-webhook message; SMTP goes through Airflow's SmtpNotifier and its connection (`notify_smtp_conn_id`).
    notify_webhook_url: str | None = None
    notify_slack_webhook_url: str | None = None
    notify_smtp_to: str | None = Field(default=None, description="comma-separated addresses")
    notify_smtp_from: str | None = None
    notify_smtp_conn_id: str = "smtp_default"
    notify_timeout_s: float = 10.0

    # Ingest.
    ingest_group: str = "flywheel-ingest"
    ingest_batch_size: int = 5000
    ingest_max_event_bytes: int = 64 * 1024
    kafka_session_timeout_ms: int = 6000

    # Teacher (an OpenAI-compatible endpoint: the OpenAI API unless the base URL says otherwise; a non-loopback
    # endpoint needs the key) and assistant.
    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str | None = None
    teacher_model: str = "gpt-3.5-turbo"
    teacher_timeout_s: float = 30.0
    teacher_max_retries: int = 3
    # The referee's teacher stand-in (`flywheel teacher-server`, flywheel_lab) listens here; whoever uses it points
    # openai_base_url at it (http://127.0.0.1:8601/v1).
    teacher_port: int = 8601
    assistant_port: int = 8602

    # Augmentation (paraphrase LLM; unset model/base_url/key fall back to the teacher's endpoint).
    augment_model: str | None = None
    augment_base_url: str | None = None
    augment_api_key: str | None = None
    augment_paraphrases_requested: int = 5
    augment_paraphrases_kept: int = 1
    augment_workers: int = 4

    # Training and models.
    artifacts_dir: Path = Path("artifacts")
    promotion_margin: float = 0.02
    promotion_floor: float = 0.30
    # Whose responses feed ground truth: only the teacher arm's, or every arm's (a student output that users export
    # is as good a candidate as a teacher output). Default teacher: measured better on the simulator (true ratio 1.055
    # vs 1.033 on day 5 of `flywheel experiment arms`). docs/domain.md#groundtruth-arms
    groundtruth_arms: Literal["teacher", "all"] = "teacher"
    # Event retention (docs/domain.md#partitions-and-retention): the monthly partitions of the event tables whose end
    # is older than this many days are dropped by `flywheel retention` / the flywheel_retention DAG, first exported to
    # Parquet under retention_export_dir when it is set. None = keep every event for ever.
    retention_days: int | None = Field(default=None, ge=1)
    retention_export_dir: Path | None = None
    # Kubernetes launcher: the training Job that the nightly DAG submits (KubernetesJobOperator) and waits for.
    train_image: str = "ghcr.io/flywheel/flywheel-train:latest"
    k8s_namespace: str = "flywheel"
    k8s_artifacts_pvc: str = "flywheel-artifacts"
    k8s_db_secret: str = "flywheel-db"  # a Secret with key `url`: the SQLAlchemy URL (never written to a manifest)
    k8s_conn_id: str = "kubernetes_default"  # the Airflow connection the operator uses (in-cluster or kubeconfig)
    k8s_gpus: int = Field(default=1, ge=0, description="GPUs per training pod (limits of k8s_gpu_resource)")
    k8s_gpu_resource: str = "nvidia.com/gpu"
    k8s_cpu_request: str = "4"
    k8s_memory_request: str = "16Gi"
    k8s_memory_limit: str | None = None
    k8s_node_selector: dict[str, str] = Field(default_factory=dict,
                                              description='e.g. {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}')
    k8s_tolerations: list[dict[str, str]] = Field(default_factory=lambda: [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    k8s_service_account: str | None = None
    k8s_image_pull_secret: str | None = None
    k8s_job_timeout_s: int = 6 * 3600  # activeDeadlineSeconds of the Job

    # MLflow tracking: unset URI -> the platform's Postgres server, database `mlflow_database` (created on first
    # use); artifacts under {artifacts_dir}/mlflow. The platform's registry stays the source of truth.
    mlflow_enabled: bool = True
    mlflow_tracking_uri: str | None = None
    mlflow_database: str = "mlflow"
    mlflow_experiment: str = "flywheel-students"
    mlflow_registered_model: str = "flywheel-student"
    mlflow_port: int = 8604

    # Experiments that decide (flywheel.experiments, docs/domain.md#experiments-that-decide): the rule registered
    # with a new experiment, what a ship ramps to, and the prices behind "what the student saves".
    experiment_margin: float = 0.96  # non-inferiority: the student keeps >= this share of the teacher's completion
    experiment_alpha: float = 0.05
    experiment_design_users: int = 4000  # users (both arms) where the confidence sequence is tightest
    experiment_min_users_per_arm: int = 300
    experiment_max_student_p95_ms: float = 2000.0
    experiment_max_fallback_rate: float = 0.05
    experiment_max_contract_fix_rate: float = 0.02
    experiment_guardrail_min_responses: int = 200
    experiment_ship_student_weight: float = 0.9  # after a ship; the rest is the teacher holdout
    experiment_apply_decisions: bool = True  # False: decisions are recorded, phases are left to an operator
    teacher_tokens_per_call: float = 700.0  # prompt + completion of one assistant request
    teacher_usd_per_1k_tokens: float = 0.002
    student_usd_per_call: float = 0.00002  # the serving CPU's share of one request
    # What a model that passes the promotion gate does to a running experiment that serves a student
    # (docs/domain.md#champion-and-challenger): "replace" swaps production at once and the student arm follows it
    # (the behaviour before issue 29); "challenger" leaves production (the champion) serving and starts a new phase in
    # which the new model is a challenger arm against it, under the experiment's rule, which then promotes or drops it.
    promotion_mode: Literal["replace", "challenger"] = "replace"

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    def pg_password_file(self) -> Path:
        return self.state_dir.resolve() / "postgres" / "password"

    def embedded_pg_password(self) -> str | None:
        """The embedded server's password: FLYWHEEL_PG_PASSWORD, else the generated file (None before `up`)."""
        if self.pg_password:
            return self.pg_password
        try:
            return self.pg_password_file().read_text().strip() or None
        except OSError:
            return None

    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        from urllib.parse import quote

        pw = self.embedded_pg_password()
        auth = f"{quote(self.pg_user, safe='')}:{quote(pw, safe='')}" if pw else quote(self.pg_user, safe="")
        return f"postgresql+psycopg2://{auth}@127.0.0.1:{self.pg_port}/{self.pg_database}"

    def bootstrap(self) -> str:
        return self.kafka_bootstrap or f"127.0.0.1:{self.kafka_port}"

    def dags_path(self) -> Path:
        """The DAG folder Airflow reads; raises SettingsPathError when it does not exist."""
        folder = Path(self.dags_folder) if self.dags_folder is not None else CHECKOUT_DAGS_DIR
        if not folder.is_dir():
            raise SettingsPathError(f"no Airflow DAG folder at {folder}: set FLYWHEEL_DAGS_FOLDER to the dags/ "
                                    "directory of a flywheel checkout (the installed package does not ship DAG files)")
        return folder.resolve()


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and .env), with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
