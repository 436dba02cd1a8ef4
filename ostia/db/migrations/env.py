"""Alembic environment: the connection comes from `ostia.db.migrate` (config attribute)."""

from alembic import context

from ostia.db.models import Base

connection = context.config.attributes.get("connection")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True,
                  compare_type=True)
with context.begin_transaction():
    context.run_migrations()
