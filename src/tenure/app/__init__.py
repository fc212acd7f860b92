"""Application state (API keys, goals, surveys and invitations, audit log) in a relational store
through SQLAlchemy, migrated with Alembic: a SQLite file by default, PostgreSQL when
TENURE_APP_DB says so."""
