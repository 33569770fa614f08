"""`POST /admin/erasures` on the assistant (docs/domain.md#erasure): erase a user through the service that already
holds the database connection and the API keys, instead of a DAG run whose conf Airflow would keep (user id
included) in its metadata database.

Only a key of the admin scope (``flywheel keys create --app admin``) may call it: no or an unknown/revoked key is 401,
a key of another app 403. The key is looked up on every call, so a revocation takes effect at once. The answer is the
erasure record, which holds no personal data (the user id only as a salted hash).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from flywheel.assistant.keys import lookup

ADMIN_SCOPE = "admin"  # the ``app`` of the keys that may erase


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=128)  # projects.user_id


def _refused(status: int, detail: str) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)


def _admin_key(request: Request, engine: Any) -> JSONResponse | None:
    """None when the request carries a live admin key, else the refusal."""
    from sqlalchemy.orm import Session

    auth = request.headers.get("authorization", "")
    key = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-api-key", "")
    if not key:
        return _refused(401, "an admin API key is required (Authorization: Bearer <key>)")
    with Session(engine) as session:
        info = lookup(session, key=key[:200])
    if info is None:
        return _refused(401, "unknown or revoked API key")
    if info.app != ADMIN_SCOPE:
        return _refused(403, f"this key is for app {info.app!r}; erasure needs a key of app {ADMIN_SCOPE!r}")
    return None


def admin_routes(app: FastAPI, *, artifacts_dir: Path) -> None:
    """Add the admin routes; they use the engine the app opens at startup (``app.state.engine``)."""

    @app.post("/admin/erasures")
    async def erase(request: Request) -> JSONResponse:
        from flywheel.privacy.erase import erase_user

        engine = request.app.state.engine
        # The key before the body: an unauthenticated caller learns nothing about what a valid body looks like.
        refused = await run_in_threadpool(_admin_key, request, engine)
        if refused is not None:
            return refused
        try:
            body = ErasureRequest.model_validate_json(await request.body())
        except ValidationError as e:
            reasons = [f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}" for err in e.errors()]
            return JSONResponse(status_code=422, content={"detail": "; ".join(reasons), "errors": reasons})
        done = await run_in_threadpool(lambda: erase_user(engine=engine, user_id=body.user_id,
                                                          artifacts_dir=artifacts_dir))
        return JSONResponse({
            "erasure_id": done.erasure_id, "user_sha256": done.user_sha256, "counts": done.counts,
            "groundtruth_runs": done.groundtruth_runs, "splits": done.splits,
            "unusable_splits": done.unusable_splits, "models": done.models,
            "annotation_batches": done.annotation_batches, "duration_s": round(done.duration_s, 3)})
