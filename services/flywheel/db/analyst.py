"""The analysts' login: a read-only role that sees schema `analytics` and nothing else.

migration 0019 creates the group role :data:`ANALYTICS_ROLE` and grants it the analytics views (and nothing
else). A password must never sit in a migration, so the login itself (``settings.analyst_user``, member of that group)
is made here, by ``flywheel db upgrade`` (:func:`flywheel.db.migrate.upgrade`). Its password is handled like the
superuser's: ``FLYWHEEL_ANALYST_PASSWORD`` when set, else one generated once into ``<state_dir>/analyst_password``
(0600). The login also defaults to read-only transactions and to ``search_path = analytics``, so
``SELECT * FROM arm_daily_completion`` works as written.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from flywheel.errors import UsageError
from flywheel.settings import Settings

log = logging.getLogger(__name__)

# Made by migration 0019; the name is frozen there (a role belongs to the server, shared by its databases).
ANALYTICS_ROLE = "flywheel_analytics"
PASSWORD_FILE = "analyst_password"


def password_file(settings: Settings) -> Path:
    return settings.state_dir.resolve() / PASSWORD_FILE


def analyst_password(settings: Settings, *, create: bool = False) -> str | None:
    """FLYWHEEL_ANALYST_PASSWORD, else the generated file; with ``create`` the file is made (0600) when missing."""
    if settings.analyst_password:
        return settings.analyst_password
    path = password_file(settings)
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process wrote it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(24) + "\n")
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def analyst_url(settings: Settings, *, with_password: bool = False) -> str:
    """The libpq URL (``postgresql://user[:password]@host:port/db``) that opens the platform's database as the
    analyst; psql and every SQL tool take it. The password only when asked for."""
    url = make_url(settings.db_url())
    user = quote(settings.analyst_user, safe="")
    auth = user
    if with_password:
        pw = analyst_password(settings)
        if pw is None:
            raise UsageError(f"no analyst password yet: run `flywheel db upgrade` (it writes {password_file(settings)})"
                             " or set FLYWHEEL_ANALYST_PASSWORD")
        auth = f"{user}:{quote(pw, safe='')}"
    host = url.host or "127.0.0.1"
    port = f":{url.port}" if url.port else ""
    return f"postgresql://{auth}@{host}{port}/{quote(url.database or '', safe='')}"


@dataclass(frozen=True)
class AnalystLogin:
    user: str
    created: bool  # False: it existed; its password, membership and defaults were (re)set
    skipped: str | None = None  # why nothing was done (the server's roles are not ours to change), else None


def _role(conn: Connection, name: str) -> dict[str, bool] | None:
    row = conn.execute(text("SELECT rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication"
                            " FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
    if row is None:
        return None
    return {"super": row[0], "createrole": row[1], "createdb": row[2], "bypassrls": row[3], "replication": row[4]}


def _ident(conn: Connection, name: str) -> str:
    return str(conn.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one())


def ensure_analyst(settings: Settings, *, conn: Connection) -> AnalystLogin:
    """Create or update the analyst login (the caller commits): LOGIN with the analyst password, member of
    :data:`ANALYTICS_ROLE` only, read-only by default. Skipped, with the reason, when the group role is missing or
    the connected user may not manage roles. A same-named role with any power (superuser, CREATEROLE, ...) is
    refused: a read-only login that can do more would be a lie."""
    user = settings.analyst_user
    if _role(conn, ANALYTICS_ROLE) is None:
        return AnalystLogin(user, False, f"role {ANALYTICS_ROLE} does not exist (migration 0019 could not create it:"
                                         " a DBA creates it, then `flywheel db upgrade` again)")
    me = _role(conn, str(conn.execute(text("SELECT current_user")).scalar_one()))
    if not me or not (me["super"] or me["createrole"]):
        return AnalystLogin(user, False, "the platform's database user may not create roles: a DBA creates the "
                                         f"login {user!r} IN ROLE {ANALYTICS_ROLE}")
    if user == make_url(settings.db_url()).username:
        raise UsageError(f"FLYWHEEL_ANALYST_USER {user!r} is the platform's own database user: choose another name")
    existing = _role(conn, user)
    if existing and any(existing.values()):
        powers = ", ".join(k for k, v in existing.items() if v)
        raise UsageError(f"role {user!r} exists with {powers}: not a read-only login; drop it or set "
                         "FLYWHEEL_ANALYST_USER to another name")
    password = analyst_password(settings, create=True)
    ident, group = _ident(conn, user), _ident(conn, ANALYTICS_ROLE)
    # The password travels as a bound parameter (psycopg quotes it), never spliced into the text. An existing role
    # was checked powerless above (and only a superuser may name SUPERUSER in ALTER ROLE).
    attrs = "LOGIN INHERIT" if existing else "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE INHERIT"
    conn.execute(text(f"{'ALTER' if existing else 'CREATE'} ROLE {ident} WITH {attrs} PASSWORD :pw"),
                 {"pw": password})
    conn.execute(text(f"GRANT {group} TO {ident}"))
    conn.execute(text(f"ALTER ROLE {ident} SET default_transaction_read_only = on"))
    conn.execute(text(f"ALTER ROLE {ident} SET search_path = analytics"))
    # A group role a DBA made after 0019 ran has no grants in this database yet, and a database copied from a
    # template has none of the database-level ones (they live in the server's catalog): make them (idempotent).
    db = _ident(conn, str(conn.execute(text("SELECT current_database()")).scalar_one()))
    conn.execute(text(f"GRANT CONNECT ON DATABASE {db} TO {group}"))
    conn.execute(text(f"GRANT TEMPORARY ON DATABASE {db} TO CURRENT_USER"))
    conn.execute(text(f"REVOKE TEMPORARY ON DATABASE {db} FROM PUBLIC"))
    conn.execute(text(f"GRANT USAGE ON SCHEMA analytics TO {group}"))
    conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {group}"))
    log.info("analyst login %s %s (member of %s)", user, "created" if not existing else "updated", ANALYTICS_ROLE)
    return AnalystLogin(user, created=existing is None)
