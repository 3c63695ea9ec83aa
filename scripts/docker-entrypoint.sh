#!/bin/sh
# The Docker image's entrypoint: Prometheus' multiprocess directory for this container, then the command.
# Containers share HERALD_METRICS_ROOT (a volume in docker-compose.yml) so web's /metrics adds up the
# counters of every worker container; each writes into a directory of its own (process ids repeat
# between containers), emptied when the container starts (accounts/metrics.py, docs/operations.md).
set -e
if [ -n "$HERALD_METRICS_ROOT" ] && [ -z "$PROMETHEUS_MULTIPROC_DIR" ]; then
    PROMETHEUS_MULTIPROC_DIR="$HERALD_METRICS_ROOT/$(hostname)"
    export PROMETHEUS_MULTIPROC_DIR
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    rm -f "$PROMETHEUS_MULTIPROC_DIR"/*.db
fi
exec "$@"
