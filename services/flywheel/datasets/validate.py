"""The great-expectations (1.x) gate on every ground-truth run and split.

An ephemeral GX context validates pandas frames (see ``frames.py``) against expectation suites built here. Every
result is stored in ``validation_results``; a failure raises :class:`ValidationFailed`, whose ``str()`` is a readable
report: which expectation, on which frame, how many rows, and example rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine, text

from flywheel.contracts import TOOLS, contract_slots, load_tool_contracts
from flywheel.datasets.frames import groundtruth_frames, split_frames
from flywheel.db.engine import owned_engine
from flywheel.settings import Settings

N_EXAMPLES = 5


class ValidationFailed(RuntimeError):
    def __init__(self, report: str, target_kind: str = "", target_id: str = "",
                 failures: list[dict[str, Any]] | None = None) -> None:
        super().__init__(report)
        self.report = report
        self.target_kind = target_kind
        self.target_id = target_id
        self.failures = failures or []


@dataclass
class ValidationOutcome:
    target_kind: str
    target_id: str
    success: bool
    n_expectations: int
    n_failed: int
    report: str
    results: list[dict[str, Any]]


def _expectations(kind: str, filter_names: list[str]) -> dict[str, list[Any]]:
    """frame name -> expectations. Built lazily: importing GX takes seconds."""
    import great_expectations.expectations as gxe

    span = contract_slots().span  # no slot of any tool goes beyond these bounds
    outputs: dict[str, list[Any]] = {
        "params": [
            gxe.ExpectColumnValuesToBeInSet(column="known_param", value_set=[True]),
            gxe.ExpectColumnValuesToBeInSet(column="is_integer", value_set=[True]),
            gxe.ExpectColumnValuesToBeBetween(column="value", min_value=span[0], max_value=span[1]),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="value", column_B="lo", or_equal=True),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="hi", column_B="value", or_equal=True),
        ],
        "filters": [
            gxe.ExpectColumnValuesToNotBeNull(column="name"),
            gxe.ExpectColumnValuesToBeInSet(column="name", value_set=filter_names),
        ],
        "contracts": [gxe.ExpectColumnValuesToBeInSet(column="contract_ok", value_set=[True])],
    }
    if kind == "groundtruth":
        required = ["intent", "tool", "used", "shown", "exports", "export_rate", "support", "n_candidates", "rule"]
        return {
            "rows": [
                gxe.ExpectTableRowCountToBeBetween(min_value=1),
                *[gxe.ExpectColumnValuesToNotBeNull(column=c) for c in required],
                gxe.ExpectColumnValueLengthsToBeBetween(column="intent", min_value=1),
                gxe.ExpectColumnValuesToBeInSet(column="tool", value_set=list(TOOLS)),
                gxe.ExpectColumnValuesToBeInSet(column="rule", value_set=["export_rate", "most_frequent"]),
                gxe.ExpectCompoundColumnsToBeUnique(column_list=["intent", "tool"]),
                gxe.ExpectColumnValuesToBeBetween(column="export_rate", min_value=0, max_value=1),
                gxe.ExpectColumnValuesToBeBetween(column="shown", min_value=1),
                gxe.ExpectColumnValuesToBeBetween(column="exports", min_value=0),
                gxe.ExpectColumnValuesToBeBetween(column="n_candidates", min_value=1),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="shown", column_B="exports", or_equal=True),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="support", column_B="shown", or_equal=True),
                gxe.ExpectColumnPairValuesToBeEqual(column_A="used", column_B="has_output"),
            ],
            "intents": [
                gxe.ExpectColumnValuesToBeUnique(column="intent"),
                gxe.ExpectColumnValuesToBeBetween(column="n_tools", min_value=len(TOOLS), max_value=len(TOOLS)),
                # a kept intent had an exported used candidate, so at least one tool is used
                gxe.ExpectColumnValuesToBeBetween(column="n_used", min_value=1, max_value=len(TOOLS)),
                gxe.ExpectColumnPairValuesToBeEqual(column_A="support_min", column_B="support_max"),
            ],
            "usage": [
                gxe.ExpectColumnValuesToBeBetween(column="used_ratio", min_value=0, max_value=1),
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="used_ratio", column_B="min_ratio",
                                                            or_equal=True),
            ],
            **outputs,
        }
    return {
        "members": [
            gxe.ExpectTableRowCountToBeBetween(min_value=2),
            gxe.ExpectColumnValuesToNotBeNull(column="intent"),
            gxe.ExpectColumnValuesToNotBeNull(column="support"),
            gxe.ExpectColumnValueLengthsToBeBetween(column="intent", min_value=1),
            gxe.ExpectColumnValuesToBeInSet(column="part", value_set=["train", "test"]),
            # no intent in both train and test (membership is unique per part, so a repeat means leakage)
            gxe.ExpectColumnValuesToBeUnique(column="intent"),
            gxe.ExpectColumnValuesToBeBetween(column="support", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="n_used", min_value=1, max_value=len(TOOLS)),
        ],
        "parts": [gxe.ExpectColumnValuesToBeBetween(column="n", min_value=1)],
        "usage": [
            gxe.ExpectColumnValuesToBeBetween(column="train_ratio", min_value=0, max_value=1),
            gxe.ExpectColumnValuesToBeBetween(column="test_ratio", min_value=0, max_value=1),
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="tolerance", column_B="abs_diff", or_equal=True),
        ],
        "meta": [gxe.ExpectColumnPairValuesToBeEqual(column_A="test_rows", column_B="expected_test_rows")],
        **outputs,
    }


def _context() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    cfg = DataContextConfig(store_backend_defaults=InMemoryStoreBackendDefaults(), analytics_enabled=False,
                            progress_bars=ProgressBarsConfig(globally=False))
    return gx.get_context(mode="ephemeral", project_config=cfg)


def run_suites(kind: str, target_id: str, frames: dict[str, pd.DataFrame],
               filter_names: list[str]) -> ValidationOutcome:
    """Validate each frame with its suite (GX ValidationDefinition on a whole-dataframe batch)."""
    import great_expectations as gx

    ctx = _context()
    source = ctx.data_sources.add_pandas(name=f"flywheel_{kind}")
    results: list[dict[str, Any]] = []
    for frame_name, expectations in _expectations(kind, filter_names).items():
        df = frames[frame_name]
        batch = source.add_dataframe_asset(name=frame_name).add_batch_definition_whole_dataframe("all")
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"flywheel.{kind}.{frame_name}"))
        for exp in expectations:
            suite.add_expectation(exp)
        vd = ctx.validation_definitions.add(gx.ValidationDefinition(name=f"{kind}.{frame_name}", data=batch,
                                                                    suite=suite))
        res = vd.run(batch_parameters={"dataframe": df},
                     result_format={"result_format": "COMPLETE", "partial_unexpected_count": N_EXAMPLES})
        for r in res.results:
            results.append(_summarize(frame_name, df, r))
    failed = [r for r in results if not r["success"]]
    report = _report(kind, target_id, results, failed)
    return ValidationOutcome(kind, target_id, not failed, len(results), len(failed), report, results)


def _jsonable(v: Any) -> Any:
    return json.loads(json.dumps(v, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _summarize(frame_name: str, df: pd.DataFrame, r: Any) -> dict[str, Any]:
    cfg = r.expectation_config
    kwargs = {k: v for k, v in cfg.kwargs.items() if k not in ("batch_id",)}
    if isinstance(kwargs.get("value_set"), list) and len(kwargs["value_set"]) > 8:
        kwargs["value_set"] = kwargs["value_set"][:8] + [f"... ({len(kwargs['value_set'])} values)"]
    res = r.result or {}
    examples: list[Any] = []
    idx = res.get("unexpected_index_list") or []
    if idx and len(df):
        rows = df.loc[[i for i in idx[:N_EXAMPLES] if i in df.index]]
        examples = rows.to_dict(orient="records")
    elif res.get("partial_unexpected_list"):
        examples = list(res["partial_unexpected_list"][:N_EXAMPLES])
    exc = (r.exception_info or {}) if isinstance(r.exception_info, dict) else {}
    return _jsonable({
        "frame": frame_name, "expectation": cfg.type, "kwargs": kwargs, "success": bool(r.success),
        "element_count": res.get("element_count", len(df)), "unexpected_count": res.get("unexpected_count"),
        "observed_value": res.get("observed_value"), "examples": examples,
        "error": exc.get("exception_message") if exc.get("raised_exception") else None,
    })


def _report(kind: str, target_id: str, results: list[dict[str, Any]], failed: list[dict[str, Any]]) -> str:
    head = (f"GX validation of {kind} {target_id}: "
            + ("passed" if not failed else "FAILED") + f" ({len(results) - len(failed)}/{len(results)} expectations)")
    lines = [head]
    for f in failed:
        args = ", ".join(f"{k}={v!r}" for k, v in f["kwargs"].items())
        what = (f"{f['unexpected_count']} of {f['element_count']} rows unexpected"
                if f["unexpected_count"] is not None else f"observed {f['observed_value']!r}")
        if f["error"]:
            what = f"error: {f['error']}"
        lines.append(f"  x [{f['frame']}] {f['expectation']}({args}): {what}")
        for ex in f["examples"]:
            lines.append(f"      e.g. {json.dumps(ex, ensure_ascii=False, default=str)[:240]}")
    return "\n".join(lines)


def _store(conn: Any, outcome: ValidationOutcome) -> None:
    import great_expectations as gx

    conn.execute(text(
        "INSERT INTO validation_results (target_kind, target_id, suite, success, n_expectations, n_failed, report,"
        " results, gx_version) VALUES (:k, :t, :s, :ok, :n, :nf, :rep, CAST(:res AS jsonb), :v)"),
        {"k": outcome.target_kind, "t": outcome.target_id, "s": f"flywheel.{outcome.target_kind}",
         "ok": outcome.success, "n": outcome.n_expectations, "nf": outcome.n_failed, "rep": outcome.report,
         "res": json.dumps(outcome.results, default=str), "v": gx.__version__})


def _validate(settings: Settings, kind: str, target_id: str, engine: Engine | None, raise_on_failure: bool
              ) -> ValidationOutcome:
    with owned_engine(settings, engine) as eng:
        with eng.connect() as conn:
            table, key = ("groundtruth_runs", "run_id") if kind == "groundtruth" else ("splits", "split_id")
            if conn.execute(text(f"SELECT 1 FROM {table} WHERE {key} = :i"), {"i": target_id}).first() is None:
                raise LookupError(f"no {kind} {target_id!r} to validate")
            frames = (groundtruth_frames if kind == "groundtruth" else split_frames)(conn, target_id)
        outcome = run_suites(kind, target_id, frames, load_tool_contracts(settings.schemas_dir).filter_names)
        with eng.begin() as conn:
            _store(conn, outcome)
    if raise_on_failure and not outcome.success:
        raise ValidationFailed(outcome.report, kind, target_id, [r for r in outcome.results if not r["success"]])
    return outcome


def validate_groundtruth(settings: Settings, run_id: str, *, engine: Engine | None = None,
                         raise_on_failure: bool = True) -> ValidationOutcome:
    return _validate(settings, "groundtruth", run_id, engine, raise_on_failure)


def validate_split(settings: Settings, split_id: str, *, engine: Engine | None = None,
                   raise_on_failure: bool = True) -> ValidationOutcome:
    return _validate(settings, "split", split_id, engine, raise_on_failure)


def last_result(settings: Settings, kind: str, target_id: str, *, engine: Engine | None = None
                ) -> dict[str, Any] | None:
    with owned_engine(settings, engine) as eng, eng.connect() as conn:
        row = conn.execute(text(
            "SELECT success, report, created_at FROM validation_results WHERE target_kind = :k AND"
            " target_id = :t ORDER BY id DESC LIMIT 1"), {"k": kind, "t": target_id}).mappings().first()
        return dict(row) if row else None


def ensure_groundtruth_valid(settings: Settings, run_id: str, *, engine: Engine | None = None) -> None:
    """The gate before splitting: reuse the run's last verdict, or validate it now."""
    last = last_result(settings, "groundtruth", run_id, engine=engine)
    if last is None:
        validate_groundtruth(settings, run_id, engine=engine)
    elif not last["success"]:
        raise ValidationFailed(last["report"], "groundtruth", run_id)
