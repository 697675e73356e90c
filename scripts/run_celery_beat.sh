#!/usr/bin/env bash
# The beat scheduler (RedBeat). Starting a second one is safe: RedBeat's lock in Redis lets
# only one fire the schedule; the other waits and takes over if the first dies.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/celery -A worker.celery_app:celery beat -S worker.beat:ResilientRedBeatScheduler -l INFO
