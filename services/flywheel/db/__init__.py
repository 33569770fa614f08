"""Database access: SQLAlchemy 2 metadata (one Base), engines, and Alembic migrations."""
