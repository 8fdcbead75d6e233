# One image for every platform service (ingest, alerts, api, migrate); the command picks the service.
FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY eldercare ./eldercare
COPY edge ./edge
COPY ingest ./ingest
COPY alerts ./alerts
COPY api ./api
COPY simulator ./simulator
COPY demo ./demo
RUN pip install ".[server]" && useradd --system --uid 10001 eldercare
USER eldercare
ENTRYPOINT ["eldercare"]
