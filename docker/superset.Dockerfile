# The Superset image: Superset 6.1 in its own fully pinned environment, with pilotage's config,
# assets and bootstrap. It never sees the warehouse, only the serving file (mounted read-only).
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/*
ENV UV_PYTHON_DOWNLOADS=never SUPERSET_CONFIG_PATH=/app/superset/superset_config.py
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY superset/requirements.txt superset/requirements.txt
RUN uv venv /app/.venv && uv pip install --python /app/.venv/bin/python -r superset/requirements.txt
COPY superset superset
# uid 1000 as the pipeline's user (docker/pipeline.Dockerfile): the serving file is 0600.
RUN useradd --create-home --uid 1000 superset && mkdir -p /app/superset_home && chown superset /app/superset_home
USER superset
