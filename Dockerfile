FROM python:3.11-slim
WORKDIR /opt/flywheel
COPY pyproject.toml constraints.txt README.md ./
COPY services ./services
COPY migrations ./migrations
COPY schemas ./schemas
COPY alembic.ini ./
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
 && pip install --no-cache-dir -c constraints.txt -e .
ENV FLYWHEEL_STATE_DIR=/tmp/flywheel
