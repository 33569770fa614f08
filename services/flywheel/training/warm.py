"""Warm start: continue from a parent checkpoint (the production model) instead of a fresh model.

What is checked here is family-independent: the parent is a flywheel checkpoint of the same family (and, for the
transformers, the same base model). How the parent's weights continue is the family's ``Student.warm_start``: the
n-gram student appends the new split's unseen features as zero rows; the transformers keep the parent's tokenizer as
it is (a refitted one would give the parent's embedding rows other meanings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flywheel.training.config import TrainConfig, train_config_from_file
from flywheel.training.students import Student, student_family

PARENT_CONFIG = "train_config.json"


class WarmStartError(ValueError):
    """The parent checkpoint cannot be continued with this config (the message says why)."""


def parent_checkpoint(config: TrainConfig) -> Path:
    """``config.init_checkpoint``, checked: a flywheel checkpoint whose family (and base model) match this run's."""
    if not config.init_checkpoint:
        raise WarmStartError("a warm start needs config.init_checkpoint")
    path = Path(config.init_checkpoint)
    if not (path / PARENT_CONFIG).is_file():
        raise WarmStartError(f"cannot warm-start: {path} is not a flywheel checkpoint (no {PARENT_CONFIG})")
    try:
        parent = train_config_from_file(path / PARENT_CONFIG)
    except ValueError as e:
        raise WarmStartError(f"cannot warm-start from {path}: its config no longer loads ({e})") from e
    for key in ("backend", "base_model"):
        mine, theirs = getattr(config, key, None), getattr(parent, key, None)
        if mine != theirs:
            raise WarmStartError(f"cannot warm-start from {path}: its {key} is {theirs!r}, this run's is {mine!r}")
    return path


def warm_student(*, config: TrainConfig, rows: list[dict[str, Any]]) -> Student:
    """The parent of ``config.init_checkpoint``, checked, as its family continues it on ``rows``."""
    parent = parent_checkpoint(config)
    return student_family(config.backend).warm_start(config=config, rows=rows, parent=parent)
