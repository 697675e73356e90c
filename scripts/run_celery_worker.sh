#!/usr/bin/env bash
# A Celery worker. WORKER_QUEUES picks its queues (default: notifications; deploy/ runs a
# second one with WORKER_QUEUES=deliveries, so a slow email or SMS provider or webhook
# receiver never delays scans or the live feed). Scale with WORKER_CONCURRENCY and more hosts.
set -euo pipefail
cd "$(dirname "$0")/.."
QUEUES="${WORKER_QUEUES:-notifications}"
exec .venv/bin/celery -A worker.celery_app:celery worker -Q "$QUEUES" -l INFO \
    -c "${WORKER_CONCURRENCY:-2}" --without-gossip --without-mingle -n "${QUEUES%%,*}@%h"
