"""`sync` loses nothing when notification ids commit out of order (PostgreSQL: two writers,
the lower id committing after the higher one was synced): the acknowledgement tells the
client where to resume (dashboard/services/notifications/cursor.py)."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session as OrmSession

from dashboard.models import Notification, NotificationDelivery, utcnow
from dashboard.services import notifications
from dashboard.services.notifications import UNKNOWN, resume_after
from tests import factories
from tests.conftest import PG_URL
from tests.livestack import Recorder, unique_email


@pytest.mark.parametrize(("after", "last_sent", "settled", "resume"), [
    (10, None, None, 10),     # nothing new, SQLite
    (10, 15, None, 15),       # SQLite: every committed id is settled
    (10, 15, 20, 15),         # PostgreSQL, nothing in flight below what was sent
    (10, 15, 12, 12),         # a writer in flight above 12: resend from there next time
    (10, 15, 5, 10),          # never before where this sync started
    (10, 15, UNKNOWN, 10),    # cannot tell: start here again
    (10, None, 20, 10),
])
def test_where_the_next_sync_starts(after, last_sent, settled, resume):
    assert resume_after(after, last_sent, settled) == resume


def test_sqlite_has_no_horizon(db):
    if PG_URL:
        pytest.skip("the SQLite answer")
    assert notifications.settled_id(db) is None


def store_for(session, wallet_id: int, title: str) -> int:
    """One notification (and its delivery) for the wallet's residents, not committed."""
    row = notifications.notification_row("topup_success", title, "Message.", now=utcnow(),
                                         dedup_key=f"cursor:{uuid.uuid4().hex}",
                                         wallet_id=wallet_id)
    [nid] = notifications.store(session, [row])
    return nid


@pytest.mark.stack
@pytest.mark.skipif(not PG_URL, reason="SQLite has one writer at a time: ids commit in order")
def test_a_lower_id_committed_after_a_higher_one_was_synced_still_arrives(stack):
    email = unique_email("cursor")
    with stack.session() as s:
        wallet = factories.wallet(s)
        user = factories.resident(s, wallet, email=email)
        wallet_id, user_id = wallet.id, user.id
    client = Recorder(stack.url, token=stack.token(email)).connect()
    engine = create_engine(stack.db_url)
    first, second = OrmSession(engine), OrmSession(engine)
    try:
        cursor = client.sync(after_id=0)["last_id"]
        low = store_for(first, wallet_id, "Committed late")  # its transaction stays open
        high = store_for(second, wallet_id, "Committed at once")
        second.commit()
        assert low < high

        ack = client.sync(after_id=cursor)  # as live.js: resume where the last answer said
        assert client.ids() == [high] and ack["sent"] == 1
        assert ack["last_id"] < low, "resuming after the higher id would skip the lower one"
        first.commit()

        again = client.sync(after_id=ack["last_id"])
        assert again["sent"] == 2 and client.ids() == [high, low, high]  # `high` again:
        # the client drops a repeat by id, so the person sees each once.
        with stack.session() as s:
            theirs = set(s.scalars(select(NotificationDelivery.notification_id).where(
                NotificationDelivery.user_id == user_id)))
        assert set(client.ids()) == theirs == {low, high}
        assert client.sync(after_id=again["last_id"])["last_id"] == high  # settled now
    finally:
        first.rollback()
        first.close()
        second.close()
        engine.dispose()
        client.close()


@pytest.mark.skipif(not PG_URL, reason="PostgreSQL's horizon")
def test_the_horizon_stops_below_an_open_writer_and_moves_on_when_it_ends(db, make):
    wallet = make.wallet()
    engine = create_engine(db.get_bind().url.render_as_string(hide_password=False))
    writer = OrmSession(engine)
    try:
        before = notifications.settled_id(db)
        db.commit()
        open_id = store_for(writer, wallet.id, "Open")
        assert notifications.settled_id(db) == before < open_id  # the sample before it
        db.commit()
        writer.commit()
        assert notifications.settled_id(db) >= open_id
        db.commit()
        assert db.scalar(select(Notification.id).where(Notification.id == open_id))
    finally:
        writer.close()
        engine.dispose()
