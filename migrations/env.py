"""Alembic environment: the models' metadata and DATABASE_URL from config.py."""
from alembic import context
from sqlalchemy import create_engine, pool

from config import get_config
from dashboard import models  # noqa: F401 - registers every table on the metadata
from dashboard.db import Base

target_metadata = Base.metadata


def database_url() -> str:
    """The URL given by the caller (run.py, tests) or the configured one."""
    return context.config.attributes.get("url") or get_config().DATABASE_URL


def run_migrations_offline() -> None:
    """Emit SQL to stdout (alembic upgrade --sql)."""
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Migrate the database itself. Batch mode lets SQLite alter tables."""
    connection = context.config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
