"""The python-socketio and python-engineio internals dashboard.events relies on, checked on the
pinned versions so that an upgrade that changes them fails here, loudly, before it silently
breaks the live feed.

QueueManager (dashboard/events/queue.py) overrides RedisManager._publish, _listen and
_redis_listen_with_retries, leaves PubSubManager.emit and _handle_emit to the stock code,
builds PubSubManager.emit's queue message itself to publish many at once
(dashboard/events/wire.py), replaces Flask-SocketIO's RedisManager after the fact and closes
every browser with server.eio.disconnect(). Each of those is checked by behaviour against
the stock code where we copy it, by signature where we only call or override it.
"""
from __future__ import annotations

import ast
import inspect
import json
import textwrap
from importlib.metadata import version
from types import SimpleNamespace

import engineio
import pytest
import socketio
from flask_socketio import SocketIO
from hypothesis import given, settings
from hypothesis import strategies as st

from dashboard import events
from dashboard.events import fanout, roomindex, wire
from dashboard.events.queue import install_queue_manager

PINNED = (f"python-socketio {version('python-socketio')}, "
          f"python-engineio {version('python-engineio')}, "
          f"Flask-SocketIO {version('flask-socketio')}")
REREAD = (f"{PINNED} changed what dashboard/events relies on: re-read QueueManager "
          "(dashboard/events/queue.py) and the queue message (dashboard/events/wire.py) "
          "against the new RedisManager / PubSubManager before upgrading")


class Probe(events.QueueManager):
    """A QueueManager whose Redis side is a recorder: what the stock code hands to _publish,
    and what emit_many hands to _publish_many, are kept instead of sent."""

    def __init__(self):
        """An emit-only manager on a URL nothing listens on (nothing is ever sent)."""
        super().__init__("redis://127.0.0.1:9/0", channel="probe", write_only=True)
        self.published: list = []

    def _publish(self, data):
        """Record one queue message as the stock code passes it."""
        self.published.append(data)
        return True

    def _publish_many(self, payloads):
        """Record serialised queue messages as emit_many passes them."""
        self.published.extend(payloads)
        return len(payloads)


@pytest.fixture
def probe():
    """A Probe attached to a real socketio.Server with two connected clients, one in
    `operators` and one in `user:1`; (manager, packets the browsers would be sent)."""
    manager = Probe()
    server = socketio.Server(client_manager=manager, async_mode="threading")
    sent: list[tuple[str, int, object]] = []
    server.eio.send_packet = lambda eio_sid, pkt: sent.append((eio_sid, pkt.packet_type,
                                                               pkt.data))
    for eio_sid, room in (("eio-op", "operators"), ("eio-res", "user:1")):
        sid = manager.connect(eio_sid, "/")
        manager.enter_room(sid, "/", room)
    return manager, sent


PAYLOADS = [
    {"id": 1, "title": "Top-up received", "data": {"balance": "5.00", "nested": [1, 2]}},
    ("two", {"arguments": True}),
    {"blob": b"\x00\x01raw", "nested": [{"more": bytearray(b"x")}]},
    "plain text",
]
ROOMS = ["operators", ["operators", "user:1"], ["user:1"]]


@pytest.mark.parametrize("room", ROOMS, ids=str)
@pytest.mark.parametrize("data", PAYLOADS, ids=lambda d: type(d).__name__)
def test_our_queue_message_is_the_one_the_stock_emit_publishes(probe, data, room):
    manager, sent = probe
    manager.server.emit("evt", data, to=room)  # stock: Server.emit -> PubSubManager.emit
    [stock] = manager.published
    stock_delivery = list(sent)
    assert stock == wire.queue_message(manager.host_id, "evt", data, room), REREAD

    manager.published.clear()
    sent.clear()
    assert manager.emit_many([("evt", data, room)]) == 1
    [ours] = manager.published
    assert ours == manager.json.dumps(stock), REREAD  # byte for byte
    assert sent == stock_delivery, REREAD  # this host's clients get the same packets

    # Another web process decodes it with the stock listener's json.loads and _handle_emit.
    sent.clear()
    manager._handle_emit(manager.json.loads(ours))
    assert sent == stock_delivery, REREAD
    assert stock_delivery, "nobody received the event: the probe's rooms are wrong"


def test_emit_and_handle_emit_are_still_the_stock_ones():
    # A single event (events.emit) goes through the stock emit, which calls our _publish.
    assert events.QueueManager.emit is socketio.PubSubManager.emit, REREAD
    assert events.QueueManager._handle_emit is socketio.PubSubManager._handle_emit, REREAD
    assert list(inspect.signature(socketio.PubSubManager._handle_emit).parameters) == \
        ["self", "message"], REREAD


def _params(function) -> list[str]:
    """Parameter names of a function."""
    return list(inspect.signature(function).parameters)


@pytest.mark.parametrize("name", ["_publish", "_listen", "_redis_listen_with_retries"])
def test_the_overridden_methods_keep_their_stock_signatures(name):
    stock = getattr(socketio.RedisManager, name)
    ours = getattr(events.QueueManager, name)
    assert ours is not stock, f"QueueManager no longer overrides {name}"
    assert _params(ours) == _params(stock), REREAD


def test_every_stock_caller_of_publish_ignores_what_it_returns():
    # Ours returns whether Redis accepted the message; the stock one returns Redis's reply
    # or None. That is safe only while no stock code looks at the value.
    callers = []
    for cls in (socketio.PubSubManager, socketio.RedisManager):
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute) \
                        and child.func.attr == "_publish":
                    callers.append((cls.__name__, type(node).__name__))
    assert callers, REREAD
    assert {kind for _, kind in callers} == {"Expr"}, f"{REREAD}: {callers}"


def canned_pubsub_messages(channel: bytes, other_host: str, own_host: str) -> list[dict]:
    """What redis-py's pubsub.listen() yields: a confirmation, another channel's message,
    then three of ours (from another host, from this host, and a callback)."""
    emit = {"method": "emit", "event": "remote", "data": [{"n": 1}], "namespace": "/",
            "room": "operators", "host_id": other_host}
    own = {**emit, "event": "own", "host_id": own_host}
    return [
        {"type": "subscribe", "channel": channel, "data": 1, "pattern": None},
        {"type": "message", "channel": b"elsewhere", "data": json.dumps(emit).encode()},
        {"type": "message", "channel": channel, "data": json.dumps(emit).encode()},
        {"type": "message", "channel": channel, "data": json.dumps(own).encode()},
        {"type": "message", "channel": channel, "data": b"not json"},
    ]


def test_our_listen_yields_what_the_stock_listen_yields(probe):
    manager, _ = probe
    messages = canned_pubsub_messages(b"probe", "other-host", manager.host_id)
    manager._redis_listen_with_retries = lambda: iter(messages)
    manager.pubsub = SimpleNamespace(unsubscribe=lambda channel: None)  # stock's last call
    assert list(manager._listen()) == list(socketio.RedisManager._listen(manager)), REREAD
    assert len(list(manager._listen())) == 3


def test_the_stock_listener_thread_reads_our_listen_and_handles_other_hosts_emits(probe):
    manager, sent = probe
    manager._redis_listen_with_retries = lambda: iter(
        canned_pubsub_messages(b"probe", "other-host", manager.host_id))
    manager._thread()  # returns once our canned messages run out ("exited unexpectedly")
    # Only the other host's event was delivered (to the operator), as json decoded it.
    assert [(eio_sid, data) for eio_sid, _, data in sent] == \
        [("eio-op", '2["remote",{"n":1}]')], REREAD


def test_closing_every_browser_is_eio_disconnect_without_arguments():
    assert _params(engineio.Server.disconnect) == ["self", "sid"], REREAD
    assert inspect.signature(engineio.Server.disconnect).parameters["sid"].default is None
    server = socketio.Server(async_mode="threading")
    assert isinstance(server.eio, engineio.Server), REREAD
    closed = []
    server.eio.sockets = {sid: SimpleNamespace(close=lambda reason=None, sid=sid:
                                               closed.append((sid, reason)))
                          for sid in ("a", "b")}
    server.eio.disconnect()  # what QueueManager does when its subscription is lost
    assert sorted(sid for sid, _ in closed) == ["a", "b"] and server.eio.sockets == {}, REREAD
    # The retry loop sleeps through the server, which every async mode provides.
    assert _params(socketio.Server.sleep) == ["self", "seconds"], REREAD


def test_flask_socketio_makes_a_stock_redis_manager_we_can_replace():
    io = SocketIO(message_queue="redis://127.0.0.1:9/0", channel="probe-channel")
    stock = io.server.manager
    assert type(stock) is socketio.RedisManager, REREAD
    assert (stock.redis_url, stock.channel, stock.write_only) == \
        ("redis://127.0.0.1:9/0", "probe-channel", True), REREAD
    # QueueManager.like carries over only these: Flask-SocketIO sets nothing else.
    assert stock.redis_options == {} and stock.logger is None, REREAD
    assert {"url", "channel", "write_only"} <= set(_params(socketio.RedisManager.__init__))
    assert io.server.manager_initialized is False, REREAD  # replaceable until first connect

    install_queue_manager(io)
    queue = io.server.manager
    assert isinstance(queue, events.QueueManager)
    assert (queue.redis_url, queue.channel, queue.write_only) == \
        ("redis://127.0.0.1:9/0", "probe-channel", True)
    assert queue.server is io.server and queue.json is io.server.packet_class.json, REREAD


# -- fan-out batches (dashboard/events/fanout.py) ----------------------------------------------

def test_the_internals_a_fanout_batch_calls_keep_their_signatures():
    assert _params(socketio.Server._send_eio_packet) == ["self", "eio_sid", "eio_pkt"], REREAD
    assert _params(socketio.base_manager.BaseManager.get_participants) == \
        ["self", "namespace", "room"], REREAD
    assert _params(engineio.packet.Packet.__init__)[:3] == \
        ["self", "packet_type", "data"], REREAD


@pytest.mark.parametrize("rooms", [["operators"], ["operators", "user:1"], ["user:1"],
                                   ["user:404"]], ids=str)
@pytest.mark.parametrize("data", PAYLOADS, ids=lambda d: type(d).__name__)
def test_a_fanout_batch_reaches_browsers_as_the_stock_emit_does(probe, data, rooms):
    manager, sent = probe
    room = rooms if len(rooms) > 1 else rooms[0]
    manager._handle_emit(wire.queue_message("other-host", "evt", data, room))  # stock
    stock_delivery = list(sent)

    sent.clear()
    assert manager.emit_batch([("evt", data, rooms)]) == 1
    [raw] = manager.published
    sent.clear()  # emit_many (the stock path) also delivers to this host's own sockets
    message = manager.json.loads(raw)
    if message["method"] == fanout.METHOD:
        assert message["items"] == [[rooms, manager.packet_text("evt", data)]]
        manager.handle_batch(message)  # as another web process's listener does
    else:  # bytes in the payload: the stock message, byte for byte
        assert raw == manager.json.dumps(wire.queue_message(manager.host_id, "evt", data,
                                                            room)), REREAD
        manager._handle_emit(message)
    assert sent == stock_delivery, REREAD


def test_the_listener_delivers_batches_of_other_hosts_and_yields_the_rest(probe):
    manager, sent = probe
    batch = fanout.batch_message("other-host", [[["operators"], '2["evt",{"n":1}]'],
                                                [["user:1", "operators"], '2["evt",{"n":2}]']])
    own = fanout.batch_message(manager.host_id, [[["operators"], '2["own",{}]']])
    messages = canned_pubsub_messages(b"probe", "other-host", manager.host_id)
    messages += [{"type": "message", "channel": b"probe", "data": json.dumps(m).encode()}
                 for m in (batch, own)]
    manager._redis_listen_with_retries = lambda: iter(messages)
    manager.server.sleep = lambda seconds: None
    manager.write_only = False  # a web process (an emit-only one has no sockets to feed)
    yielded = list(manager._listen())
    assert len(yielded) == 3  # the stock messages only: the batches were handled here
    assert sorted((eio_sid, data) for eio_sid, _, data in sent) == [
        ("eio-op", '2["evt",{"n":1}]'), ("eio-op", '2["evt",{"n":2}]'),
        ("eio-res", '2["evt",{"n":2}]')]


# -- the room index (dashboard/events/roomindex.py) --------------------------------------------

class _Ids:
    """engine.io ids in a known order, so two managers get the same ones."""

    def __init__(self):
        """From s0."""
        self.n = 0

    def generate_id(self):
        """The next id."""
        self.n += 1
        return f"s{self.n}"


def _manager(cls):
    """A manager of class `cls` on a stand-in server that only makes ids."""
    manager = cls()
    manager.set_server(SimpleNamespace(eio=_Ids(), packet_class=socketio.packet.Packet))
    return manager


def _tables(manager) -> tuple:
    """Everything basic_disconnect and its neighbours change, as plain values."""
    rooms = {ns: {room: dict(members) for room, members in table.items()}
             for ns, table in manager.rooms.items()}
    callbacks = {sid: sorted(ids) for sid, ids in manager.callbacks.items()}
    return rooms, callbacks, manager.pending_connect, manager.pending_disconnect


_SOCKET = st.integers(0, 5)
_ROOM = st.sampled_from(["operators", "user:1", "user:2"])
_OPS = st.lists(st.one_of(
    st.tuples(st.just("connect"), _SOCKET), st.tuples(st.just("pre_connect"), _SOCKET),
    st.tuples(st.just("enter"), _SOCKET, _ROOM), st.tuples(st.just("leave"), _SOCKET, _ROOM),
    st.tuples(st.just("close"), _ROOM), st.tuples(st.just("pre_disconnect"), _SOCKET),
    st.tuples(st.just("disconnect"), _SOCKET), st.tuples(st.just("callback"), _SOCKET)),
    max_size=60)


def _apply(manager, sids: list, op: tuple):
    """One operation on a manager; its result or the type of what it raised."""
    kind, *args = op
    sid = sids[args[0] % len(sids)] if sids and kind not in ("connect", "pre_connect",
                                                              "close") else "nobody"
    try:
        if kind == "connect":
            return manager.connect(f"eio-{args[0]}", "/")
        if kind == "pre_connect":
            return manager.pre_connect(f"eio-{args[0]}", "/")
        if kind == "enter":
            return manager.enter_room(sid, "/", args[1])
        if kind == "leave":
            return manager.leave_room(sid, "/", args[1])
        if kind == "close":
            return manager.close_room(args[0], "/")
        if kind == "pre_disconnect":
            return manager.pre_disconnect(sid, "/")
        if kind == "callback":
            return manager._generate_ack_id(sid, print)
        return manager.disconnect(sid, "/")
    except Exception as exc:  # noqa: BLE001 - both must fail alike
        return type(exc)


@settings(max_examples=300, deadline=None)
@given(_OPS)
def test_the_room_index_keeps_every_table_as_the_stock_manager_does(ops):
    class Ours(roomindex.RoomIndexMixin, socketio.Manager):
        """The index over the stock in-memory manager."""

    stock, ours = _manager(socketio.Manager), _manager(Ours)
    sids_stock, sids_ours = [], []
    for op in ops:
        got_stock, got_ours = _apply(stock, sids_stock, op), _apply(ours, sids_ours, op)
        assert got_ours == got_stock, (op, REREAD)
        if op[0] in ("connect", "pre_connect") and isinstance(got_stock, str):
            sids_stock.append(got_stock)
            sids_ours.append(got_ours)
        assert _tables(ours) == _tables(stock), (op, REREAD)
    assert events.QueueManager.basic_disconnect is roomindex.RoomIndexMixin.basic_disconnect
    for name in ("basic_enter_room", "basic_leave_room", "basic_disconnect"):
        assert _params(getattr(socketio.base_manager.BaseManager, name))[:4] == \
            _params(getattr(roomindex.RoomIndexMixin, name))[:4], REREAD
