"""gunicorn settings for the web app (Socket.IO in gevent mode).

One gevent worker holds thousands of websocket clients (measured: a scan notifying 5,000
connected residents at p99 1.4 s, 10,000 at 2.7 s, none lost; bench/RESULTS.md round 4);
run more web processes (or hosts) behind nginx with sticky sessions for more: they share
events through the Redis message queue. gthread is not used: it holds a thread per socket.
"""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
worker_class = "gevent"
# Socket.IO's long-polling fallback needs sticky sessions; with one worker per port and
# nginx's ip_hash (deploy/nginx.conf) every client keeps talking to the same process.
workers = int(os.environ.get("WEB_WORKERS", "1"))
worker_connections = int(os.environ.get("WORKER_CONNECTIONS", "12000"))
timeout = 60
graceful_timeout = 30
keepalive = 5
accesslog = None  # the app logs each request as JSON (dashboard/logs.py)
errorlog = "-"
raw_env = ["APP_ENV=production"]
