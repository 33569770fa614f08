#!/usr/bin/env bash
# GPU check (issue 13), one command on a machine with one NVIDIA GPU and the CUDA torch wheel in .venv:
# paper-scale data (9,252 intents, 1,000 test intents) on the embedded stack, then SmolLM2-135M full fine-tune vs
# the tiny student on the same split (`flywheel bench train-gpu`). Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
FW=${FLYWHEEL_BIN:-.venv/bin/flywheel}
export FLYWHEEL_STATE_DIR=${FLYWHEEL_STATE_DIR:-.flywheel-gpucheck} FLYWHEEL_ARTIFACTS_DIR=${FLYWHEEL_ARTIFACTS_DIR:-artifacts-gpucheck}
.venv/bin/python -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible to torch'; print(torch.cuda.get_device_name(0))"
trap '"$FW" down >/dev/null 2>&1 || true' EXIT
t0=$(date +%s)
"$FW" up && "$FW" db upgrade
"$FW" simulate --intents 9252 --seed 0
"$FW" ingest --idle-exit-s 10
"$FW" groundtruth
"$FW" splits --test-size 1000 --seed 0
split=$(.venv/bin/python -c "
from sqlalchemy import text
from flywheel.db.engine import make_engine
from flywheel.settings import get_settings
with make_engine(get_settings()).connect() as c:
    print(c.execute(text('SELECT split_id FROM splits ORDER BY created_at DESC LIMIT 1')).scalar_one())")
"$FW" bench train-gpu --split "$split" "$@"
echo "gpu_check: end to end $(( $(date +%s) - t0 )) s"
