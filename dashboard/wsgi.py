"""The WSGI entry point for production: `gunicorn -c deploy/gunicorn.conf.py dashboard.wsgi:app`.

Under `gunicorn -k gevent` the worker has monkey-patched the standard library before this
module is imported, and ProductionConfig selects Socket.IO's gevent mode (websockets through
simple-websocket; gevent-websocket must not be installed).
"""
from dashboard import create_app

app = create_app()
