"""services.notifications.inbox: unread counts for many users at once, set-based."""
from __future__ import annotations

import time

from sqlalchemy import event

from dashboard.models import utcnow
from dashboard.services import notifications


def test_unread_counts_take_one_group_by_per_batch_of_users(db, make):
    w = make.wallet()
    residents = [make.resident(w, email=f"inbox-{i}@example.test") for i in range(2)]
    operator = make.user("operator", email="inbox-op@example.test")
    rows = [notifications.notification_row("topup_success", "T", "M", now=utcnow(),
                                           dedup_key=f"inbox:{time.monotonic_ns()}:{i}",
                                           wallet_id=w.id)
            for i in range(3)]
    ids = notifications.store(db, rows)
    notifications.mark_read(db, residents[1], ids[0], utcnow())
    db.commit()
    # 2,500 ids, most of them nobody's: every id answered, in three statements.
    wanted = [r.id for r in residents] + [operator.id] + list(range(10**6, 10**6 + 2497))
    statements = []
    engine = db.get_bind()

    def count(conn, cursor, statement, params, context, executemany):
        """Note each query the counting sends (not the BEGIN of its transaction)."""
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        counts = notifications.unread_counts(db, wanted)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 3 and all("GROUP BY" in s for s in statements)
    assert set(counts) == set(wanted)
    assert (counts[residents[0].id], counts[residents[1].id], counts[operator.id]) == (3, 2, 0)
    assert sum(counts.values()) == 5


def test_unread_count_of_one_user_is_the_set_based_count(db, make):
    w = make.wallet()
    resident = make.resident(w, email="inbox-one@example.test")
    assert notifications.unread_count(db, resident) == 0
    notifications.store(db, [notifications.notification_row(
        "topup_success", "T", "M", now=utcnow(), dedup_key="inbox-one", wallet_id=w.id)])
    db.commit()
    assert notifications.unread_count(db, resident) == 1 == \
        notifications.unread_counts(db, [resident.id])[resident.id]
