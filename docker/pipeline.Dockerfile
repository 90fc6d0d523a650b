# The pipeline image: dagster, dlt, dbt, great-expectations and this repository's code.
FROM python:3.11-slim
ENV UV_PYTHON_DOWNLOADS=never UV_PYTHON_PREFERENCE=only-system PATH=/app/.venv/bin:$PATH
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY pilotage pilotage
COPY dagster_project dagster_project
COPY ingestion ingestion
COPY pilotage_cli pilotage_cli
RUN uv sync --frozen --no-dev
COPY dbt dbt
RUN pilotage dbt-parse --quiet
COPY docker/dagster.yaml /opt/dagster/home/dagster.yaml
COPY docker/workspace.yaml /opt/dagster/workspace.yaml
# uid 1000 in both images: the data are private to their user (files 0600, folders 0700) and
# Superset (docker/superset.Dockerfile) reads the serving file from this volume.
RUN useradd --create-home --uid 1000 pilotage && mkdir -p /var/lib/pilotage && chown pilotage /var/lib/pilotage
USER pilotage
