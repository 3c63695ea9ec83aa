# Production image: gunicorn serves the app, whitenoise the collected static files; runs as non-root.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.prod \
    HERALD_METRICS_ROOT=/app/var/metrics

WORKDIR /app
RUN groupadd --system herald && useradd --system --gid herald --home /app herald

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings that load; these placeholders never reach a running container.
RUN SECRET_KEY=collectstatic-only-placeholder-value-that-is-long-enough-000000 \
    ALLOWED_HOSTS=localhost DATABASE_URL=postgres://build@localhost/build REDIS_URL=none \
    python manage.py collectstatic --noinput \
 && mkdir -p /app/var/media /app/var/metrics && chown -R herald:herald /app/var

USER herald
EXPOSE 8000
# Each container counts its processes' metrics in a directory of its own under HERALD_METRICS_ROOT.
ENTRYPOINT ["sh", "/app/scripts/docker-entrypoint.sh"]
# A broadcast to a 1,000,000-contact list is planned and written in its request (~1.5 min on 2 cores).
CMD ["gunicorn", "config.wsgi", "--config", "config/gunicorn.py", "--bind", "0.0.0.0:8000", "--workers", "3", "--threads", "4", "--timeout", "300", "--access-logfile", "-"]
