"""The annotation app: annotators sign in, get their next task (the intent, the original photo, the teacher's and the
student's render side by side) and answer relevancy and mimicry. `flywheel annotate serve` runs it."""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from starlette.middleware.sessions import SessionMiddleware

from flywheel.annotate import pages, store
from flywheel.annotate.batch import TASK_PHOTO_SIDE
from flywheel.errors import NotFound
from flywheel.render import photos, render

WHICH = ("original", "teacher", "student")


def _photo(name: str) -> Any:
    return photos.load(name, max_side=TASK_PHOTO_SIDE)


def _image_renderer(engine: Engine, lut_dir: Path | None) -> Callable[[int, str], bytes]:
    photo = lru_cache(maxsize=8)(_photo)

    @lru_cache(maxsize=96)
    def jpeg(task_id: int, which: str) -> bytes:
        with Session(engine) as s:
            t = store.get_task(s, task_id=task_id)
        image = photo(t.photo)
        if which != "original":
            image = render(image, t.teacher if which == "teacher" else t.student, lut_dir=lut_dir)
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=90)
        return buf.getvalue()

    return jpeg


def _user(engine: Engine, request: Request) -> tuple[int, str] | None:
    """The signed-in annotator (id, name), or None."""
    uid = request.session.get("annotator_id")
    if uid is None:
        return None
    with Session(engine) as s:
        name = store.annotator_name(s, annotator_id=int(uid))
    return None if name is None else (int(uid), name)


def _auth_routes(app: FastAPI, engine: Engine) -> None:
    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/", response_model=None)
    def index(request: Request) -> RedirectResponse:
        return RedirectResponse("/task" if _user(engine, request) else "/signin", status_code=303)

    @app.get("/signin", response_class=HTMLResponse)
    def signin_form() -> str:
        return pages.signin()

    @app.post("/signin", response_model=None)
    def signin(request: Request, name: str = Form(...), token: str = Form(...)) -> Response:
        with Session(engine) as s:
            uid = store.authenticate(s, name=name, token=token)
        if uid is None:
            return HTMLResponse(pages.signin("Unknown name or wrong token."), status_code=401)
        request.session.clear()
        request.session["annotator_id"] = uid
        return RedirectResponse("/task", status_code=303)

    @app.post("/signout", response_model=None)
    def signout(request: Request) -> RedirectResponse:
        request.session.clear()
        return RedirectResponse("/signin", status_code=303)


def _task_routes(app: FastAPI, engine: Engine, batch_id: str | None) -> None:
    @app.get("/task", response_model=None)
    def next_task(request: Request, saved: int | None = None) -> Response:
        who = _user(engine, request)
        if who is None:
            return RedirectResponse("/signin", status_code=303)
        note = f"Saved your answer to task {saved}." if saved else None
        with Session(engine) as s:
            t = store.next_task(s, annotator_id=who[0], batch_id=batch_id)
            n = store.answered_by(s, annotator_id=who[0])
        if t is None:
            return HTMLResponse(pages.done(user=who[1], answered=n, note=note))
        return HTMLResponse(pages.task(t, user=who[1], answered=n, note=note))

    @app.post("/answer", response_model=None)
    def answer(request: Request, task_id: int = Form(...), relevant: str = Form(...),
               mimics: str = Form(...)) -> Response:
        who = _user(engine, request)
        if who is None:
            return RedirectResponse("/signin", status_code=303)
        if relevant not in ("yes", "no") or mimics not in ("yes", "no"):
            raise HTTPException(422, "answers are yes or no")
        try:
            with Session(engine) as s, s.begin():
                store.submit_answer(s, task_id=task_id, annotator_id=who[0], relevant=relevant == "yes",
                                    mimics=mimics == "yes")
        except store.AnswerRefused as e:
            return HTMLResponse(pages.refused(str(e), user=who[1]), status_code=409)
        return RedirectResponse(f"/task?saved={task_id}", status_code=303)


def _image_route(app: FastAPI, engine: Engine, lut_dir: Path | None) -> None:
    jpeg = _image_renderer(engine, lut_dir)

    @app.get("/image/{task_id}/{which}.jpg", response_model=None)
    def image(request: Request, task_id: int, which: str) -> Response:
        if _user(engine, request) is None:
            raise HTTPException(401, "sign in first")
        if which not in WHICH:
            raise HTTPException(404, f"image is one of {', '.join(WHICH)}")
        try:
            body = jpeg(task_id, which)
        except NotFound as e:
            raise HTTPException(404, str(e)) from e
        return Response(body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


def create_app(engine: Engine, *, secret_key: str | None = None, lut_dir: Path | None = None,
               batch_id: str | None = None) -> FastAPI:
    """The app over the caller's engine; `batch_id` limits it to one batch. Sessions are signed cookies (a fresh
    key per process unless `secret_key` is given, so a restart signs everybody out)."""
    app = FastAPI(title="flywheel reality check", docs_url=None, redoc_url=None)
    app.add_middleware(SessionMiddleware, secret_key=secret_key or secrets.token_urlsafe(32), same_site="strict",
                       max_age=12 * 3600)
    _auth_routes(app, engine)
    _task_routes(app, engine, batch_id)
    _image_route(app, engine, lut_dir)
    return app
