"""Who may see which wallet: residents their own units' wallets, staff every wallet."""
from __future__ import annotations

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import joinedload

from ...models import Occupancy, Person, Unit, User, Wallet, utcnow
from ..errors import NotFound


def _current_occupancy(today):
    """Occupancies in force today."""
    return (Occupancy.start_date <= today) & (
        (Occupancy.end_date.is_(None)) | (Occupancy.end_date >= today))


def wallet_ids_of(session, user: User) -> select:
    """A subquery of the wallet ids a resident may see (their units' wallets)."""
    today = utcnow().date()
    return (select(Wallet.id).join(Occupancy, Occupancy.unit_id == Wallet.unit_id)
            .where(Occupancy.person_id == user.person_id, _current_occupancy(today)))


def visible(session, user: User):
    """A condition limiting wallets to those `user` may see."""
    if user.is_staff:
        return True
    if user.person_id is None:
        return False
    return Wallet.id.in_(wallet_ids_of(session, user))


def get_wallet(session, user: User, wallet_id: int) -> Wallet:
    """The wallet, if `user` may see it; otherwise NotFound (never a hint that it exists)."""
    wallet = session.scalars(
        select(Wallet).options(joinedload(Wallet.unit).joinedload(Unit.estate))
        .where(Wallet.id == wallet_id, visible(session, user))
    ).first()
    if wallet is None:
        raise NotFound("No such wallet.")
    return wallet


def residents_of(session, wallet_ids: list[int]) -> dict[int, list[dict]]:
    """People living in each wallet's unit today: {wallet_id: [{id, name}]}."""
    result: dict[int, list[dict]] = {i: [] for i in wallet_ids}
    if not wallet_ids:
        return result
    today = utcnow().date()
    rows = session.execute(
        select(Wallet.id, Person.id, Person.first_name, Person.last_name, Occupancy.role,
               Occupancy.is_primary)
        .join(Occupancy, Occupancy.unit_id == Wallet.unit_id)
        .join(Person, Person.id == Occupancy.person_id)
        .where(Wallet.id.in_(wallet_ids), _current_occupancy(today))
        .order_by(Wallet.id, Occupancy.is_primary.desc(), Person.id)
    )
    for wallet_id, pid, first, last, role, primary in rows:
        result[wallet_id].append({"id": pid, "name": f"{first} {last}", "role": role,
                                  "primary": primary})
    return result
