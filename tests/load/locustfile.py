"""Locust user for the assistant load test (tests/test_assistant_load.py runs it headless on loopback).

Environment: FLYWHEEL_LOAD_KEY (the API key), FLYWHEEL_LOAD_INTENTS (intents, one per line, a file),
FLYWHEEL_LOAD_OUT (where the request ids of every 200 are written when the run ends).
"""

from __future__ import annotations

import os
import random
import uuid

from locust import HttpUser, constant, events, task

OK_REQUEST_IDS: list[str] = []


class AppUser(HttpUser):
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {os.environ['FLYWHEEL_LOAD_KEY']}"
        with open(os.environ["FLYWHEEL_LOAD_INTENTS"], encoding="utf-8") as fh:
            self.intents = [line.strip() for line in fh if line.strip()]
        self.user_id = f"load-{uuid.uuid4().hex[:8]}"

    @task
    def edit(self) -> None:
        body = {"project_id": f"lp-{uuid.uuid4().hex[:12]}", "user_id": self.user_id,
                "intent": random.choice(self.intents)}
        with self.client.post("/v1/edits", json=body, name="/v1/edits", catch_response=True) as r:
            if r.status_code == 200:
                OK_REQUEST_IDS.append(r.json()["request_id"])
                r.success()
            else:
                r.failure(f"HTTP {r.status_code}")


@events.quitting.add_listener
def _write_ids(environment, **kw) -> None:  # type: ignore[no-untyped-def]
    with open(os.environ["FLYWHEEL_LOAD_OUT"], "w", encoding="utf-8") as fh:
        fh.write("\n".join(OK_REQUEST_IDS))
