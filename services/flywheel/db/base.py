from __future__ import annotations

from sqlalchemy import MetaData, text
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names so Alembic autogenerate and downgrades are deterministic.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Server defaults the migrations create (raw-SQL writers rely on them); the ORM declares them too so that Alembic's
# comparison of ORM and database stays empty.
EMPTY_JSON_OBJECT = text("'{}'::jsonb")
EMPTY_JSON_ARRAY = text("'[]'::jsonb")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
