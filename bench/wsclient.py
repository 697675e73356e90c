"""A resident's Socket.IO connection for the fan-out benchmark, on a bare websocket.

python-socketio's client costs ≈ 0.3 ms of CPU per client per round (decoding every packet,
dispatching each event to a handler thread): at 10,000 clients, one bench process spent more
CPU than the web server it measured, on the same two cores. This speaks just what a resident
needs, over websocket-client (a greenlet each under gevent): Engine.IO 4's open packet, its
heartbeat (answer `2` with `3`), Socket.IO 5's connect with `auth: {token}`, and the events,
told apart by their prefix. Like static/js/live.js it reconnects when dropped and then sends
`sync`, so a notification missed meanwhile still arrives (late).
"""
from __future__ import annotations

import json
import time

import websocket

NOTIFICATION = '42["notification",'
RECONNECT_FIRST, RECONNECT_MAX = 0.5, 2.0


class Resident:
    """One resident's socket: records when the first `kind` notification arrived."""

    def __init__(self, url: str, token: str, kind: str, on_arrival, on_drop):
        """`on_arrival()` the first time a `kind` notification arrives in a round,
        `on_drop()` each time the connection is lost."""
        self.url = url.replace("http", "ws", 1) + "/socket.io/?EIO=4&transport=websocket"
        self.token, self.kind = token, kind
        self.on_arrival, self.on_drop = on_arrival, on_drop
        self.ws = None
        self.closed = False
        self.got = False  # this round's notification arrived

    def connect(self, timeout: float = 30) -> None:
        """Open the websocket and the Socket.IO session; raises when refused."""
        ws = websocket.create_connection(self.url, timeout=timeout, enable_multithread=True)
        opened = ws.recv()
        if not opened.startswith("0"):
            raise ConnectionError(f"no engine.io open packet: {opened[:80]}")
        heartbeat = json.loads(opened[1:])
        ws.send("40" + json.dumps({"token": self.token}))
        while True:
            reply = ws.recv()
            if reply.startswith("40"):
                break
            if reply.startswith("44"):
                raise ConnectionError(f"refused: {reply[2:200]}")
            self._handle(ws, reply)
        # Past the server's ping interval and timeout without a frame, the server is gone.
        ws.settimeout((heartbeat["pingInterval"] + heartbeat["pingTimeout"]) / 1000)
        self.ws = ws

    def run(self) -> None:
        """Read until closed, reconnecting (and syncing) after a drop."""
        delay = RECONNECT_FIRST
        while not self.closed:
            try:
                self._handle(self.ws, self.ws.recv())
                delay = RECONNECT_FIRST
            except Exception:  # noqa: BLE001 - any failure is a drop: reconnect as live.js
                if self.closed:
                    return
                self.on_drop()
                time.sleep(delay)
                delay = min(delay * 2, RECONNECT_MAX)
                try:
                    self.connect()
                    self.ws.send('42["sync",{"after_id":0}]')
                except Exception:  # noqa: BLE001, S110 - try again after the next delay
                    pass

    def _handle(self, ws, message: str) -> None:
        """One Engine.IO packet."""
        if message == "2":
            ws.send("3")
        elif message.startswith(NOTIFICATION):
            if not self.got and f'"type":"{self.kind}"' in message:
                self.got = True
                self.on_arrival()
        elif message.startswith("41"):
            raise ConnectionError("disconnected by the server")

    def close(self) -> None:
        """Stop reading and close the websocket."""
        self.closed = True
        if self.ws is not None:
            try:
                self.ws.close(timeout=0.5)
            except Exception:  # noqa: BLE001, S110 - closing anyway
                pass
