"""``python -m flywheel.training``: the one training entry (the local and Kubernetes launchers run it, one process per
GPU under ``accelerate launch``): train on a stored split, then register the candidate and its test evaluation.

This module is a process entry point, not part of the training layer's API: nothing imports it, and it reaches up to
the registry's train stage (:func:`flywheel.registry.stages.run_training`); pyproject.toml's layers contract allows
exactly that one import.
"""

from __future__ import annotations

import argparse
import json

from flywheel.registry.stages import run_training
from flywheel.settings import get_settings
from flywheel.training.config import parse_train_config, train_config_from_file, train_config_from_json


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m flywheel.training", description=run_training.__doc__)
    ap.add_argument("--split", required=True, help="split id")
    ap.add_argument("--config", help="training config as .json or .yaml (default: the n-gram student's defaults)")
    ap.add_argument("--config-json", help="training config as a JSON string (how a Kubernetes Job carries it)")
    ap.add_argument("--split-dir", help="split folder (default: the split's folder under artifacts)")
    ap.add_argument("--model-id")
    ap.add_argument("--no-register", action="store_true", help="do not write the models/evaluations tables")
    ap.add_argument("--airflow-run-id", help="the Airflow run that started this training, for pipeline_runs")
    args = ap.parse_args(argv)
    if args.config_json:
        config = train_config_from_json(args.config_json)
    else:
        config = train_config_from_file(args.config) if args.config else parse_train_config({})
    result = run_training(get_settings(), args.split, config, split_dir=args.split_dir, model_id=args.model_id,
                          register=not args.no_register, airflow_run_id=args.airflow_run_id)
    print(json.dumps({"model_id": result.model_id, "path": str(result.path),
                      "training_seconds": round(result.training_seconds, 2),
                      "overall": result.metrics.get("overall")}))


if __name__ == "__main__":
    main()
