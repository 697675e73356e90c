"""`python run.py create-user`."""
from __future__ import annotations

from dashboard.db import Session, init_engine
from dashboard.models import ROLES, Person, User

from ..services.accounts.passwords import check_password_rules


def create_user(config, email: str, role: str, password: str, person_id: int | None) -> dict:
    """Create a user with a hashed password; RuntimeError with a message when refused."""
    init_engine(config.DATABASE_URL)
    email = email.strip().lower()
    if role not in ROLES:
        raise RuntimeError(f"role must be one of {', '.join(ROLES)}")
    problem = check_password_rules(password, email)
    if problem:
        raise RuntimeError(problem)
    if Session.query(User).filter_by(email=email).first():
        raise RuntimeError(f"a user with email {email} exists")
    if person_id is not None and Session.get(Person, person_id) is None:
        raise RuntimeError(f"no person with id {person_id}")
    user = User(email=email, role=role, person_id=person_id)
    user.set_password(password)
    Session.add(user)
    Session.commit()
    return {"id": user.id, "email": user.email, "role": user.role}
