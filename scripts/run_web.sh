#!/usr/bin/env bash
# Production web: gunicorn with gevent workers serving Flask and Socket.IO.
# Needs APP_ENV=production, SECRET_KEY, DATABASE_URL, REDIS_URL in the environment (or .env).
set -euo pipefail
cd "$(dirname "$0")/.."
export APP_ENV="${APP_ENV:-production}"
.venv/bin/python -c "from dashboard.migrate import upgrade; from config import get_config; upgrade(get_config().DATABASE_URL)"
exec .venv/bin/gunicorn -c deploy/gunicorn.conf.py dashboard.wsgi:app
