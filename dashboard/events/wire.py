"""The queue message of one event, exactly as python-socketio's PubSubManager.emit makes it.

Every web process's listener (the stock PubSubManager._thread and _handle_emit) decodes what
is published on the channel, so a message we build ourselves (to publish many in one
pipelined call) must be the one the stock emit would have published: same keys, same order,
so the same bytes. tests/test_events_internals.py compares the two on the pinned version.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from socketio.packet import Packet

NAMESPACE = "/"  # every event of ours goes to the default namespace


def queue_message(host_id: str, event_name: str, data: Any, room: str | list[str], *,
                  binary: bool | None = None) -> dict:
    """The message PubSubManager.emit publishes for one event to `room` of the default
    namespace, without skip_sid or callback. `binary` (whether data holds bytes) is found out
    as the stock emit does unless given."""
    data = list(data) if isinstance(data, tuple) else [data]
    if binary is None:
        binary = Packet.data_is_binary(data)
    if binary:
        data, attachments = Packet.deconstruct_binary(data)
        data = [data, *[base64.b64encode(a).decode() for a in attachments]]
    return {"method": "emit", "event": event_name, "data": data, "binary": binary,
            "namespace": NAMESPACE, "room": room, "skip_sid": None, "callback": None,
            "host_id": host_id}


def encoded(json_module, host_id: str, event_name: str, data: Any,
            room: str | list[str]) -> tuple[dict, str]:
    """queue_message(...) and its serialised form, as the stock emit would publish it with
    the manager's JSON module `json_module`."""
    if json_module.dumps is json.dumps:
        # The standard encoder refuses bytes, so a message it encodes carries no binary
        # attachment, binary=False is what Packet.data_is_binary would have found, and that
        # second walk of every payload (as costly as encoding it) can be skipped.
        message = queue_message(host_id, event_name, data, room, binary=False)
        try:
            return message, json.dumps(message)
        except TypeError:
            pass  # bytes somewhere (or something unencodable): the stock way decides
    message = queue_message(host_id, event_name, data, room)
    return message, json_module.dumps(message)
