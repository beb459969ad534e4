# The monitor worker: `monitor run` (ingest -> extract -> rules -> delivery, plus HTTP on 8080).
#
#   docker build -t critical-minerals-monitor .
#   docker compose up            # Kafka (KRaft), PostgreSQL, two workers, Prometheus, Grafana
#
# Configuration is by environment (MONITOR_<SECTION>__<FIELD>, KAFKA_BOOTSTRAP_SERVERS): see
# monitor/settings.py. The image carries the rule packs and pipelines in /app; the installed package
# cannot find them beside itself, so their paths are set explicitly below.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Install the project from a throw-away copy of the source (a non-editable install: the package
# lives in site-packages). The store drivers are installed explicitly because pyproject.toml does not
# list them yet: SQLAlchemy's asyncio support, asyncpg (PostgreSQL) and aiosqlite (the default SQLite).
COPY pyproject.toml README.md /src/
COPY monitor/ /src/monitor/
RUN pip install /src "sqlalchemy[asyncio]>=2.0" "asyncpg>=0.29" "aiosqlite>=0.19" \
    && rm -rf /src

WORKDIR /app
COPY rules/ /app/rules/
COPY pipelines/ /app/pipelines/
# pipelines/offline.yaml reads these recorded feeds (file:../monitor/data/feeds/...).
COPY monitor/data/feeds/ /app/monitor/data/feeds/

# Non-root. /app itself is the worker's, for its working files (the default SQLite store in var/,
# Faust's data directory); the rules and pipelines stay root-owned and read-only.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin monitor \
    && mkdir -p /app/var \
    && chown monitor:monitor /app /app/var
USER monitor

ENV MONITOR_HTTP__HOST=0.0.0.0 \
    MONITOR_HTTP__PORT=8080 \
    MONITOR_RULES__PATHS='["/app/rules"]' \
    MONITOR_INGEST__SOURCES='["/app/pipelines/sources.yaml"]'

EXPOSE 8080

# Liveness: /healthz answers while the process runs (readiness is /readyz).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('MONITOR_HTTP__PORT', '8080'), timeout=4)"]

CMD ["monitor", "run"]
