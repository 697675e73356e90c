"""Many events in few queue messages, each payload encoded once: the way a scan's chunk
reaches thousands of connected residents.

The stock path costs, per event, one queue message that every web process decodes from JSON
and then encodes again as a Socket.IO packet. A fan-out batch instead carries each event as
its finished Socket.IO packet text, `2["notification",{...}]`, made once by the publisher,
with the rooms it goes to; up to BATCH_ITEMS events share one message:

    {"method": "quantify_emit_batch", "host_id": ..., "items": [[rooms, packet text], ...]}

A web process hands each packet text, as an Engine.IO message, to every socket of its rooms
(a socket in several rooms of one item gets it once, as with the stock emit to a list of
rooms), so what a browser receives is byte for byte what the stock emit would have sent
(tests/test_events_fanout.py). Events whose payload holds bytes (binary attachments) take the
stock path instead; ours never do.

FanoutMixin is part of dashboard.events.queue.QueueManager; it relies on the pinned
python-socketio's packet encoding, BaseManager.get_participants and Server._send_eio_packet
(tests/test_events_internals.py).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from engineio import packet as eio_packet
from socketio import packet as sio_packet

log = logging.getLogger(__name__)

METHOD = "quantify_emit_batch"
NAMESPACE = "/"
BATCH_ITEMS = 500  # events per queue message: ~300 kB of notifications, a few ms to route


def batch_message(host_id: str, items: list) -> dict:
    """The queue message of a batch; `method` first, so a listener spots it by its prefix."""
    return {"method": METHOD, "host_id": host_id, "items": items}


class FanoutMixin:
    """emit_batch and its listener side, for QueueManager."""

    # A batch message starts with this (json.dumps keeps the key order above).
    BATCH_MARK = f'{{"method": "{METHOD}"'.encode()

    def packet_text(self, event: str, payload) -> str | None:
        """The Socket.IO packet of one event as the stock emit encodes it; None when the
        payload holds bytes (a binary packet is several frames: left to the stock path)."""
        # As Manager.emit: a tuple is several arguments, None none, anything else one.
        if isinstance(payload, tuple):
            args = list(payload)
        else:
            args = [] if payload is None else [payload]
        packet_class = self.server.packet_class
        if packet_class.json.dumps is json.dumps:  # engine.io's json module re-exports it
            # What Packet.encode writes for an event of the default namespace. Building the
            # Packet would first walk the payload for bytes (as costly as encoding it); the
            # standard encoder refuses bytes, so a payload it encodes has none.
            try:
                return str(sio_packet.EVENT) + json.dumps([event, *args], separators=(",", ":"))
            except TypeError:
                pass  # bytes somewhere: the Packet decides
        encoded = packet_class(sio_packet.EVENT, namespace=NAMESPACE, data=[event, *args]).encode()
        return encoded if isinstance(encoded, str) else None

    def emit_batch(self, items: Iterable[tuple[str, object, list[str]]]) -> int:
        """Emit (event, payload, rooms) items in order, BATCH_ITEMS to a queue message, all
        messages in pipelined calls; delivered to this process's own sockets too. Returns how
        many events reached Redis; never raises."""
        sent = 0
        batch: list = []
        messages: list[tuple[str, int]] = []  # (serialised message, events in it)
        stock: list = []

        def flush_batch():
            """Close the current batch into a queue message."""
            nonlocal batch
            if batch:
                message = batch_message(self.host_id, batch)
                if not self.write_only:
                    self.handle_batch(message)
                messages.append((self.json.dumps(message), len(batch)))
                batch = []

        for event, payload, rooms in items:
            if not rooms:
                continue
            try:
                text = self.packet_text(event, payload)
            except Exception as exc:  # noqa: BLE001 - one bad event must not stop the rest
                log.warning("could not publish %s: %s", event, exc)
                continue
            if text is None:
                stock.append((event, payload, rooms if len(rooms) > 1 else rooms[0]))
                continue
            batch.append([list(rooms), text])
            if len(batch) >= BATCH_ITEMS:
                flush_batch()
        flush_batch()
        for start in range(0, len(messages), self.PIPELINE_SIZE):
            group = messages[start:start + self.PIPELINE_SIZE]
            if self._publish_many([m for m, _ in group]) == len(group):
                sent += sum(n for _, n in group)
            # A pipeline that broke counts as none delivered (see _publish_many): browsers
            # catch up through sync.
        if stock:
            sent += self.emit_many(stock)
        return sent

    def handle_batch(self, message: dict) -> None:
        """Hand every packet of a batch to the local sockets of its rooms."""
        if NAMESPACE not in self.rooms:
            return
        send = self.server._send_eio_packet
        for rooms, text in message.get("items") or ():
            pkt = eio_packet.Packet(eio_packet.MESSAGE, text)
            for _sid, eio_sid in self.get_participants(NAMESPACE, rooms):
                send(eio_sid, pkt)

    def _handled_batch(self, data) -> bool:
        """Handle a batch from another process; False for anything else."""
        if isinstance(data, bytes):
            mark = self.BATCH_MARK
        elif isinstance(data, str):
            mark = self.BATCH_MARK.decode()
        else:
            return False
        if not data.startswith(mark):
            return False
        try:
            message = self.json.loads(data)
        except ValueError:
            return False
        if message.get("host_id") != self.host_id and not self.write_only:
            try:
                self.handle_batch(message)
            except Exception:  # a bad message must not end the listener
                log.exception("could not deliver a batch of events")
            # Let the sockets' writers send before the next message is routed: the first
            # residents hear sooner, and the last no later.
            self.server.sleep(0)
        return True
