"""An in-process teacher-server for a simulator world, so an experiment's paraphrase requests go over real HTTP
through the OpenAI client to the same server `flywheel teacher-server` runs (no separate process to manage)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from flywheel.settings import Settings


@contextmanager
def local_teacher(settings: Settings, world_seed: int, base_intents: int | None = None) -> Iterator[Settings]:
    """Yield settings whose augment endpoint is a teacher-server for ``build_world(world_seed)`` on a free port."""
    import uvicorn

    from flywheel.runtime.proc import free_port
    from flywheel_lab.simulator.teacher_server import create_app
    from flywheel_lab.simulator.world import build_world

    world = build_world(world_seed, base_intents) if base_intents else build_world(world_seed)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(world), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="augment-teacher-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"in-process teacher-server did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        # One worker: the server draws paraphrases from one RNG, so a fixed request order makes runs repeatable.
        yield settings.model_copy(update={"augment_base_url": f"http://127.0.0.1:{port}/v1", "augment_workers": 1})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
