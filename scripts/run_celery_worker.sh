#!/usr/bin/env bash
# A Celery worker on the notifications and deliveries (webhooks) queues. Run one per host;
# scale with WORKER_CONCURRENCY.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/celery -A worker.celery_app:celery worker -Q notifications,deliveries -l INFO \
    -c "${WORKER_CONCURRENCY:-2}" --without-gossip --without-mingle -n "notify@%h"
