#!/usr/bin/env bash
# Runs the test suite on a throwaway local PostgreSQL (Debian's package), then stops it.
#   scripts/test_postgres.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PG_TEST_PORT:-54329}"
DATA="$(mktemp -d /tmp/quantify-pg.XXXXXX)"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    scripts/install_system_deps.sh postgres
fi
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"

# PostgreSQL refuses to run as root: use the postgres account when we are root.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
as_pg "$PGBIN/initdb" -D "$DATA" -A trust -U postgres >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$DATA" -o "-p $PORT -k $DATA -c fsync=off -c full_page_writes=off" \
    -l "$DATA/server.log" -w start >/dev/null
trap 'as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast stop >/dev/null; rm -rf "$DATA"' EXIT
as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres quantify_test

export TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/quantify_test"
.venv/bin/python -m pytest "$@"
