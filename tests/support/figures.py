"""Figures a test measured (fuzz, load, fault drills), printed in pytest's terminal summary so they can be quoted."""

from __future__ import annotations

import json
from typing import Any

FIGURES: list[tuple[str, dict[str, Any]]] = []


def report(name: str, **numbers: Any) -> None:
    """Record (or update: running totals keep one line per name) a named set of figures."""
    FIGURES[:] = [(n, x) for n, x in FIGURES if n != name]
    FIGURES.append((name, numbers))
    print(f"FIGURES {name}: {json.dumps(numbers, default=str)}")


def summary_lines() -> list[str]:
    return [f"{name}: " + ", ".join(f"{k}={v}" for k, v in numbers.items()) for name, numbers in FIGURES]
