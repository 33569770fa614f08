"""The nightly DAGs' parameters: one typed model, its defaults the only defaults; a typo'd or wrong-typed parameter
is a usage error that names it (Airflow passes unknown conf keys through, so the steps are where it is caught)."""

from __future__ import annotations

import pytest

from flywheel.errors import UsageError
from flywheel.pipeline.params import NightlyParams, RealityParams, airflow_params, nightly_params


def test_defaults_and_coercion() -> None:
    p = nightly_params(None)
    assert p == NightlyParams() and p.test_size is None and p.backend == "encoder" and p.launcher == "local"
    q = nightly_params({"test_size": "30", "seed": 7, "groundtruth_arms": "", "train_overrides": None})
    assert (q.test_size, q.seed, q.groundtruth_arms, q.train_overrides) == (30, 7, None, {})
    assert nightly_params(q) is q  # validated once: a model passes through


@pytest.mark.parametrize(("params", "named"), [
    ({"test_sise": 30}, "test_sise: unknown parameter"),
    ({"seed": "seven"}, "seed: "),
    ({"test_size": 0}, "test_size: "),
    ({"launcher": "slurm"}, "launcher: "),
    ({"skip_augmentation": "perhaps"}, "skip_augmentation: "),
    ({"train_overrides": [1, 2]}, "train_overrides: "),
    ({"augmentation_iterations": 9}, "augmentation_iterations: "),
])
def test_a_bad_parameter_is_a_usage_error_naming_it(params, named) -> None:
    with pytest.raises(UsageError, match="invalid nightly parameters") as e:
        nightly_params(params)
    assert named in str(e.value)
    assert str(next(iter(params.values()))) in str(e.value) or "unknown parameter" in str(e.value)


def test_reality_params() -> None:
    assert RealityParams.of(None) == RealityParams(reality_tasks=15, reality_annotators=3, seed=0)
    with pytest.raises(UsageError, match="reality_taks: unknown parameter"):
        RealityParams.of({"reality_taks": 5})


def test_airflow_params_carry_the_model_defaults_and_types() -> None:
    specs = airflow_params()
    assert {k: v["default"] for k, v in specs.items()} == NightlyParams().model_dump(mode="json")
    assert specs["test_size"]["type"] == ["integer", "null"] and specs["test_size"]["minimum"] == 1
    assert specs["launcher"]["enum"] == ["local", "kubernetes"]
    assert specs["groundtruth_arms"]["type"] == ["string", "null"]
    assert specs["groundtruth_arms"]["enum"] == [None, "teacher", "all"]
    assert specs["train_overrides"]["type"] == "object"
    assert all(v["description"] for v in specs.values())
    assert "groundtruth_run_id" not in airflow_params(exclude=("groundtruth_run_id",))


def test_a_step_refuses_a_bad_parameter_before_any_work(tmp_path) -> None:
    from flywheel.pipeline import nightly
    from flywheel.settings import Settings

    # Nothing listens there: a step that touched the database or the broker first would fail differently.
    settings = Settings(state_dir=tmp_path, database_url="postgresql+psycopg2://nobody@127.0.0.1:9/none",
                        kafka_bootstrap="127.0.0.1:9")

    with pytest.raises(UsageError, match="test_sise: unknown parameter"):
        nightly.groundtruth(settings, params={"test_sise": 10})
    with pytest.raises(UsageError, match="seed: "):
        nightly.split(settings, groundtruth_run_id="gt-none", params={"seed": "x"})
    with pytest.raises(UsageError, match="launcher: "):
        nightly.plan_training(settings, split_id="sp-none", params={"launcher": "slurm"})
