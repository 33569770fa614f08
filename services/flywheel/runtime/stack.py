"""`flywheel up/down/status`: the embedded stack, or nothing at all when real services are configured."""

from __future__ import annotations

from dataclasses import dataclass, field

from flywheel.kafka_admin import ensure_topics, list_topics
from flywheel.runtime.broker import EmbeddedBroker
from flywheel.runtime.postgres import EmbeddedPostgres
from flywheel.settings import Settings


def embedded_postgres(s: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(root=s.state_dir.resolve() / "postgres", port=s.pg_port, user=s.pg_user,
                            shared_buffers=s.pg_shared_buffers, wal_buffers=s.pg_wal_buffers)


def embedded_broker(s: Settings) -> EmbeddedBroker:
    return EmbeddedBroker(root=s.state_dir.resolve() / "broker", port=s.kafka_port)


def platform_topics(s: Settings) -> dict[str, int]:
    return {s.events_topic: s.topic_partitions, s.dead_letter_topic: s.topic_partitions}


@dataclass
class Report:
    lines: list[str] = field(default_factory=list)

    def add(self, msg: str) -> None:
        self.lines.append(msg)


def admin_connect_args(s: Settings, dbname: str = "postgres") -> dict[str, object]:
    """psycopg keyword arguments for the embedded server's superuser (its generated password included)."""
    args: dict[str, object] = {"host": "127.0.0.1", "port": s.pg_port, "user": s.pg_user, "dbname": dbname}
    pw = s.embedded_pg_password()
    if pw:
        args["password"] = pw
    return args


def mask_url(url: str) -> str:
    """The URL with its password replaced by ***, for anything printed or logged."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without anything after the scheme
        return url.split("://", 1)[0] + "://***"


def admin_execute(s: Settings, sql: str) -> None:
    """One statement as the embedded server's superuser, outside a transaction (CREATE/DROP DATABASE need that)."""
    import psycopg2

    conn = psycopg2.connect(**admin_connect_args(s))  # type: ignore[arg-type]
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def ensure_database(s: Settings) -> bool:
    """Create the platform database on the embedded server if missing. Returns True if created."""
    import psycopg2

    conn = psycopg2.connect(**admin_connect_args(s))  # type: ignore[arg-type]
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (s.pg_database,))
            if cur.fetchone():
                return False
            cur.execute(f'CREATE DATABASE "{s.pg_database}"')
            return True
    finally:
        conn.close()


def up(s: Settings) -> Report:
    r = Report()
    if s.embedded_database:
        pg = embedded_postgres(s)
        started = pg.start()
        r.add(f"postgres: {'started' if started else 'already running'} on 127.0.0.1:{s.pg_port} (pid {pg.pid()})")
        if ensure_database(s):
            r.add(f"postgres: created database {s.pg_database}")
    else:
        r.add("postgres: external (FLYWHEEL_DATABASE_URL), nothing started")
    if s.embedded_kafka:
        br = embedded_broker(s)
        started = br.start()
        r.add(f"kafka: tansu {'started' if started else 'already running'} on {s.bootstrap()} (pid {br.pid()})")
    else:
        r.add(f"kafka: external at {s.bootstrap()}, nothing started")
    created = ensure_topics(s.bootstrap(), platform_topics(s))
    for t, p in platform_topics(s).items():
        r.add(f"topic {t}: {'created' if t in created else 'exists'} ({p} partitions)")
    return r


def down(s: Settings) -> Report:
    r = Report()
    if s.embedded_kafka:
        r.add("kafka: stopped" if embedded_broker(s).stop() else "kafka: was not running")
    if s.embedded_database:
        r.add("postgres: stopped" if embedded_postgres(s).stop() else "postgres: was not running")
    return r


def status(s: Settings) -> dict[str, object]:
    out: dict[str, object] = {"database_url": mask_url(s.db_url()), "kafka_bootstrap": s.bootstrap()}
    if s.embedded_database:
        pg = embedded_postgres(s)
        out["postgres"] = {"embedded": True, "running": pg.running(), "pid": pg.pid(), "port": s.pg_port,
                           "password_file": str(pg.password_file) if pg.password() else "none (trust: re-init)"}
    else:
        out["postgres"] = {"embedded": False}
    if s.embedded_kafka:
        br = embedded_broker(s)
        out["kafka"] = {"embedded": True, "running": br.running(), "pid": br.pid(), "port": s.kafka_port}
    else:
        out["kafka"] = {"embedded": False}
    try:
        out["topics"] = list_topics(s.bootstrap()) if _kafka_reachable(s) else []
    except Exception as exc:  # status must never fail because a service is down
        out["topics"] = f"unavailable: {exc}"
    return out


def _kafka_reachable(s: Settings) -> bool:
    from flywheel.runtime.proc import port_open

    host, _, port = s.bootstrap().split(",")[0].rpartition(":")
    return port_open(host or "127.0.0.1", int(port))
