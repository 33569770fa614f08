# Builder: the flywheel wheel (schemas, SQL and migrations are package data inside it).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip wheel --no-cache-dir --no-deps -w /dist .

# Runtime: torch (CPU) first, then the wheel pinned by constraints.txt; no source tree, no editable install.
FROM python:3.11-slim
WORKDIR /opt/flywheel
COPY constraints.txt ./
COPY --from=build /dist/*.whl /tmp/dist/
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -c constraints.txt /tmp/dist/*.whl \
 && rm -rf /tmp/dist
# Airflow's DAG files are not part of the package; docker-compose mounts the checkout's dags/ over this copy.
COPY dags ./dags
ENV FLYWHEEL_STATE_DIR=/tmp/flywheel \
    FLYWHEEL_DAGS_FOLDER=/opt/flywheel/dags
