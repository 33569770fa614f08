"""pandas frames the GX gate validates: built from a ground-truth run or a split, one frame per concern.

Frames are flat on purpose: every GX failure can then point at rows that say which intent, tool and parameter broke.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
from sqlalchemy import text

from flywheel.contracts import TOOLS, ContractSlots, load_tool_contracts


def _bounds(slots: ContractSlots, tool: str, param: str) -> tuple[int | None, int | None]:
    """The contract's bounds of a parameter (``red.saturation`` for a colour's channel); None for an unknown one."""
    key = param
    if tool == "selective_adjust":
        color, _, key = param.partition(".")
        if color not in slots.colors:
            return None, None
    slot = slots.find(tool, key)
    return (None, None) if slot is None else (slot.lo, slot.hi)


def _params(slots: ContractSlots, intent: str, tool: str, value: Any, out: list[dict[str, Any]]) -> None:
    if not isinstance(value, dict):
        return
    if tool == "selective_adjust":
        items = [(f"{c}.{k}", v) for c, ch in value.items()
                 for k, v in (ch.items() if isinstance(ch, dict) else [("?", ch)])]
    elif tool == "filter":
        items = [(k, v) for k, v in value.items() if k != "name"]
    else:
        items = list(value.items())
    widest = slots.span  # an unknown parameter fails `known_param`; any bounds do for the other checks
    for param, v in items:
        lo, hi = _bounds(slots, tool, param)
        is_int = isinstance(v, int) and not isinstance(v, bool)
        num = float(v) if is_int or isinstance(v, float) else math.nan
        out.append({"intent": intent, "tool": tool, "param": param, "known_param": lo is not None,
                    "is_integer": is_int, "value": num, "lo": float(lo if lo is not None else widest[0]),
                    "hi": float(hi if hi is not None else widest[1]), "raw": json.dumps(v)})


def output_frames(items: list[tuple[str, str, Any]], schemas_dir: Any = None) -> dict[str, pd.DataFrame]:
    """From (intent, tool, output) triples of used outputs: ``params``, ``filters`` and ``contracts`` frames."""
    contracts = load_tool_contracts(schemas_dir)
    params: list[dict[str, Any]] = []
    filters: list[dict[str, Any]] = []
    contract_rows: list[dict[str, Any]] = []
    for intent, tool, value in items:
        if value is None:
            continue
        _params(contracts.slots, intent, tool, value, params)
        if tool == "filter":
            name = value.get("name") if isinstance(value, dict) else None
            filters.append({"intent": intent, "name": name if isinstance(name, str) else json.dumps(name)})
        errs = contracts.errors(tool, value)
        contract_rows.append({"intent": intent, "tool": tool, "contract_ok": not errs,
                              "error": "; ".join(errs)[:300]})
    return {
        "params": pd.DataFrame(params, columns=["intent", "tool", "param", "known_param", "is_integer", "value",
                                                "lo", "hi", "raw"]),
        "filters": pd.DataFrame(filters, columns=["intent", "name"]),
        "contracts": pd.DataFrame(contract_rows, columns=["intent", "tool", "contract_ok", "error"]),
    }


def groundtruth_frames(conn: Any, run_id: str) -> dict[str, pd.DataFrame]:
    rows = conn.execute(text(
        "SELECT intent_norm, tool, output, used, shown, exports, export_rate, support, n_candidates, rule"
        " FROM groundtruth_rows WHERE run_id = :r"), {"r": run_id}).all()
    df = pd.DataFrame([{"intent": r[0], "tool": r[1], "used": r[3], "has_output": r[2] is not None,
                        "shown": r[4], "exports": r[5], "export_rate": r[6], "support": r[7],
                        "n_candidates": r[8], "rule": r[9]} for r in rows],
                      columns=["intent", "tool", "used", "has_output", "shown", "exports", "export_rate",
                               "support", "n_candidates", "rule"])
    if len(df):
        per = df.groupby("intent").agg(n_tools=("tool", "nunique"), n_used=("used", "sum"),
                                       support_min=("support", "min"), support_max=("support", "max"))
        per = per.reset_index()
    else:
        per = pd.DataFrame(columns=["intent", "n_tools", "n_used", "support_min", "support_max"])
    n_intents = len(per)
    usage = pd.DataFrame([{"tool": t, "used_ratio": (float(df[(df.tool == t)].used.sum()) / n_intents
                                                     if n_intents else 0.0),
                           "min_ratio": 0.01 if n_intents >= 200 else 0.0} for t in TOOLS])
    frames = {"rows": df, "intents": per, "usage": usage}
    frames.update(output_frames([(r[0], r[1], r[2]) for r in rows if r[2] is not None]))
    return frames


def split_frames(conn: Any, split_id: str) -> dict[str, pd.DataFrame]:
    split = conn.execute(text("SELECT parent_split_id, test_size FROM splits WHERE split_id = :s"),
                         {"s": split_id}).first()
    rows = conn.execute(text(
        "SELECT intent, part, adjust, selective_adjust, filter, support FROM split_members WHERE split_id = :s"),
        {"s": split_id}).all()
    members = pd.DataFrame([{"intent": r[0], "part": r[1], "support": r[5],
                             "n_used": sum(v is not None for v in r[2:5])} for r in rows],
                           columns=["intent", "part", "support", "n_used"])
    parts = pd.DataFrame([{"part": p, "n": int((members.part == p).sum())} for p in ("train", "test")])
    usage = []
    n_train, n_test = int(parts.n[0]), int(parts.n[1])
    for i, t in enumerate(TOOLS):
        tr = sum(1 for r in rows if r[1] == "train" and r[2 + i] is not None) / n_train if n_train else 0.0
        te = sum(1 for r in rows if r[1] == "test" and r[2 + i] is not None) / n_test if n_test else 0.0
        p = (tr * n_train + te * n_test) / max(n_train + n_test, 1)
        # Random split: the two ratios differ by sampling noise only; 5 standard errors, never below 0.05.
        se = math.sqrt(p * (1 - p) * (1 / max(n_train, 1) + 1 / max(n_test, 1)))
        usage.append({"tool": t, "train_ratio": tr, "test_ratio": te, "abs_diff": abs(tr - te),
                      "tolerance": max(0.05, 5 * se)})
    frames = {"members": members, "parts": parts, "usage": pd.DataFrame(usage)}
    expected = split[1] if split is not None and split[0] is None else None
    frames["meta"] = pd.DataFrame([{"test_rows": n_test, "expected_test_rows": expected if expected else n_test}])
    frames.update(output_frames([(r[0], t, r[2 + i]) for r in rows for i, t in enumerate(TOOLS)
                                 if r[2 + i] is not None]))
    return frames
