"""Leaving every room of a disconnecting socket without walking every room of the process.

python-socketio's BaseManager.basic_disconnect copies the namespace's whole room table and
looks for the socket in each room. Each socket has a room of its own and each user one, so a
web process with N sockets has about 2N rooms, and N sockets leaving at once (their engine.io
ping timed out under load, the Redis subscription was lost and every browser is closed, the
process stops) cost O(N²): at 5,000 sockets that walk took most of the web's time and
turned a slow fan-out into thousands of dropped clients (bench/RESULTS.md, round 3). This
keeps, beside the table, the rooms each socket is in, and leaves just those.

RoomIndexMixin is part of dashboard.events.queue.QueueManager. It overrides
basic_enter_room, basic_leave_room and basic_disconnect of the pinned python-socketio;
tests/test_events_internals.py runs random sequences of connects, joins, leaves, closes and
disconnects against the stock manager and compares every table after each step.
"""
from __future__ import annotations


class RoomIndexMixin:
    """basic_disconnect in the number of the socket's rooms, not of all rooms."""

    def _socket_rooms(self) -> dict:
        """(namespace, sid) -> the rooms that socket is in."""
        index = self.__dict__.get("_rooms_of")
        if index is None:
            index = self.__dict__["_rooms_of"] = {}
        return index

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        """The stock join, then remembered (not when the stock one refused it)."""
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._socket_rooms().setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid, namespace, room):
        """The stock leave, then forgotten."""
        super().basic_leave_room(sid, namespace, room)
        index = self._socket_rooms()
        rooms = index.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del index[(namespace, sid)]

    def basic_disconnect(self, sid, namespace, **kwargs):
        """As the stock basic_disconnect, leaving only the rooms the socket is in."""
        if namespace not in self.rooms:
            return
        for room in list(self._socket_rooms().get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        if sid in self.callbacks:
            del self.callbacks[sid]
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if len(pending[namespace]) == 0:
                    del pending[namespace]
