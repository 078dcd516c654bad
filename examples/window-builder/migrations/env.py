"""Alembic environment for the window-builder example.

The connection URL comes from DATABASE_URL (as Render injects it), never from alembic.ini.
"""
import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config

if config.config_file_name is not None:
    fileConfig(config.config_file_name)

# The migrations use op.* calls only; there is no declarative model to autogenerate from.
target_metadata = None


def database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        raise RuntimeError(
            "DATABASE_URL is not set: export the PostgreSQL connection URL (Render: fromDatabase connectionString)"
        )
    # Render hands out postgres:// URLs, which SQLAlchemy 1.4+ rejects; and a bare postgresql://
    # means psycopg (v3) since SQLAlchemy 2.1. Name the driver this app installs: psycopg2.
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgres", "postgresql"):
        url = "postgresql+psycopg2://" + rest
    return url


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade --sql`)."""
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    section = config.get_section(config.config_ini_section, {})
    # Set on the dict, not through config.set_main_option, so configparser interpolation never sees
    # a URL-encoded password.
    section["sqlalchemy.url"] = database_url()
    connectable = engine_from_config(section, prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        # One transaction per revision: a failure leaves the database at the last good revision.
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
