"""The nightly DAGs' parameters: one typed model whose defaults are the only defaults.

`dags/flywheel_nightly.py` builds its Airflow ``Param``s from :func:`airflow_params` (the model's defaults,
descriptions and JSON-schema types, so the trigger form offers the same choices the steps accept), and every step of
:mod:`flywheel.pipeline.nightly` turns the mapping it gets into a :class:`NightlyParams` once, with
:func:`nightly_params`. A typo'd or wrong-typed parameter (``dags trigger -c '{"test_sise": 10}'``, a conf key
Airflow passes through unchecked) is a :class:`~flywheel.errors.UsageError` naming it, which fails the task at once.

This module imports pydantic and ``flywheel.errors`` only: the DAG file imports it while Airflow parses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flywheel.errors import UsageError

_P = TypeVar("_P", bound="_StepParams")


class _StepParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    WHAT: ClassVar[str] = "parameters"  # in error messages

    @classmethod
    def of(cls: type[_P], params: Mapping[str, Any] | BaseModel | None) -> _P:
        """The validated parameters of one step (a model of this class passes through: validated once)."""
        if isinstance(params, cls):
            return params
        if isinstance(params, BaseModel):
            params = params.model_dump()
        try:
            return cls.model_validate(dict(params or {}))
        except ValidationError as e:
            raise UsageError(f"invalid {cls.WHAT}: {_describe(e)}") from e


def _describe(e: ValidationError) -> str:
    """One line per bad parameter, named first: "test_sise: unknown parameter", "seed: Input should be ..."."""
    out = []
    for err in e.errors():
        name = ".".join(str(x) for x in err["loc"]) or "(parameters)"
        if err["type"] == "extra_forbidden":
            out.append(f"{name}: unknown parameter")
        else:
            out.append(f"{name}: {err['msg']} (got {err['input']!r})")
    return "; ".join(out)


class NightlyParams(_StepParams):
    """The parameters of `flywheel_nightly` (and of `flywheel_retrain` / `flywheel_groundtruth`, which take a part
    of them). ``None`` means "not set": the training config's own default, or the setting."""

    WHAT: ClassVar[str] = "nightly parameters"

    test_size: int | None = Field(
        default=None, ge=1, description="unique test intents (empty: 20% of the ground-truth run's intents, at most "
                                        "1,000 as in the paper, at least 50 on a run of 100 or more; auto_test_size)")
    seed: int = Field(default=0, description="split and training seed")
    backend: Literal["ngram", "encoder", "seq2seq", "causal"] = Field(
        default="encoder", description=(
            "student family (encoder: the pretrained encoder + n-gram bag student, the default; ngram: the n-gram "
            "slot student)"))
    base_model: str | None = Field(
        default=None, description='"smollm2", a hub name or a local path (empty: the student family\'s default)')
    epochs: float | None = Field(default=None, description="training epochs (empty: the TrainConfig default)")
    max_steps: int | None = Field(default=None, description="stop after N optimizer steps (overrides epochs)")
    train_overrides: dict[str, Any] = Field(
        default_factory=dict, description='extra TrainConfig fields, e.g. {"batch_size": 32, "lr": 0.001}')
    launcher: Literal["local", "kubernetes"] = Field(default="local", description="where fine-tuning runs")
    skip_augmentation: bool = Field(default=False, description="train on the plain split")
    augmentation_iterations: int = Field(default=1, ge=1, le=5, description="rounds of error-targeted augmentation")
    groundtruth_arms: Literal["teacher", "all"] | None = Field(
        default=None, description="arms whose responses feed ground truth (empty: FLYWHEEL_GROUNDTRUTH_ARMS)")
    init_from: Literal["scratch", "production"] | None = Field(
        default=None, description="start training from scratch or from the production checkpoint (warm start)")
    groundtruth_run_id: str | None = Field(
        default=None, description="reuse this ground-truth run instead of computing a new one")

    @field_validator("base_model", "groundtruth_arms", "init_from", "groundtruth_run_id", mode="before")
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        return None if v == "" else v  # an emptied field of the trigger form

    @field_validator("train_overrides", mode="before")
    @classmethod
    def _no_overrides(cls, v: Any) -> Any:
        return {} if v is None else v


class RealityParams(_StepParams):
    """The reality-check step's parameters (`flywheel annotate prepare`, the referee's checks). The DAG's
    `reality_check` task passes none: a promoted model's batch is always drawn with these defaults."""

    WHAT: ClassVar[str] = "reality-check parameters"

    reality_tasks: int = Field(default=15, ge=1, description="intents per batch (the paper's sample per model)")
    reality_annotators: int = Field(default=3, ge=1, description="annotators per intent, as in the paper")
    seed: int = Field(default=0, description="which test intents the batch samples")


# The test size when the `test_size` param is empty: the paper's 1,000 unique intents on a world that has them, a fifth
# of a smaller one (a scheduled run on a small world must still split), never under 50 while that leaves as many to
# train on, and never the whole run.
TEST_SIZE_CAP = 1000
TEST_FRACTION = 0.2
TEST_SIZE_FLOOR = 50


def auto_test_size(n_intents: int) -> int:
    """The test size of a run with ``n_intents`` kept intents when `test_size` is empty (0: too small to split)."""
    return min(TEST_SIZE_CAP, max(min(TEST_SIZE_FLOOR, n_intents // 2), round(TEST_FRACTION * n_intents)))


def nightly_params(params: Mapping[str, Any] | NightlyParams | None) -> NightlyParams:
    """The nightly parameters of a step (UsageError naming every bad one)."""
    return NightlyParams.of(params)


_SCHEMA_KEYS = ("type", "enum", "minimum", "maximum", "description")


def airflow_params(*, exclude: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """``{name: Param keyword arguments}`` for the DAG file: the model's default, description and JSON schema, with
    an optional field's ``anyOf: [X, null]`` written as Airflow's trigger form reads it (``type: [X, "null"]``)."""
    schema = NightlyParams.model_json_schema()["properties"]
    defaults = NightlyParams().model_dump(mode="json")
    out: dict[str, dict[str, Any]] = {}
    for name, prop in schema.items():
        if name in exclude:
            continue
        spec: dict[str, Any] = {}
        for alt in prop.get("anyOf", [prop]):
            types = alt.get("type")
            if types is not None:
                spec.setdefault("type", []).append(types)
            if "enum" in alt:
                spec.setdefault("enum", []).extend(alt["enum"])
            elif "const" in alt:
                spec.setdefault("enum", []).append(alt["const"])
            spec.update({k: alt[k] for k in ("minimum", "maximum") if k in alt})
        if "enum" in spec and "null" in spec["type"]:
            spec["enum"] = [None, *spec["enum"]]
        spec["type"] = spec["type"][0] if len(spec["type"]) == 1 else spec["type"]
        out[name] = {"default": defaults[name], "description": prop.get("description"),
                     **{k: spec[k] for k in _SCHEMA_KEYS if k in spec}}
    return out
