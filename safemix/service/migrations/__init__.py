"""Alembic migrations of the service's store (package data: run by `Store(create=True)`)."""
