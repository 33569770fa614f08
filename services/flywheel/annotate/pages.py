"""Server-rendered HTML of the annotation app (no JavaScript needed). Every value is escaped."""

from __future__ import annotations

import json
from html import escape

from flywheel.annotate.store import TaskView

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#1d2330}
header{display:flex;justify-content:space-between;align-items:center;padding:10px 24px;background:#1d2330;color:#fff}
header form{margin:0}
header button{background:none;border:1px solid #8a93a6;color:#fff;border-radius:4px;padding:4px 10px}
main{max-width:1280px;margin:0 auto;padding:18px 24px}
.intent{font-size:1.6rem;margin:6px 0 14px} .intent q{font-weight:600}
.muted{color:#5b6476;font-size:.9rem}
.photos{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}
figure{margin:0;background:#fff;border-radius:8px;padding:8px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
figure img{width:100%;height:auto;display:block;border-radius:4px}
figcaption{font-weight:600;padding:6px 2px 0} figcaption span{font-weight:400;color:#5b6476}
.questions{display:grid;grid-template-columns:1fr 1fr auto;gap:14px;align-items:end;margin-top:16px}
fieldset{background:#fff;border:1px solid #d5d9e0;border-radius:8px;padding:10px 14px;margin:0}
legend{font-weight:600;padding:0 4px} label{margin-right:18px;font-size:1.05rem;cursor:pointer}
.submit{background:#2457d6;color:#fff;border:0;border-radius:8px;padding:14px 28px;font-size:1.05rem;cursor:pointer}
.note{background:#e3f4e8;border:1px solid #9fd3ae;border-radius:6px;padding:6px 12px;margin-bottom:10px}
.error{background:#fde8e8;border:1px solid #f0a3a3;border-radius:6px;padding:6px 12px;margin-bottom:10px}
.card{max-width:380px;margin:60px auto;background:#fff;border-radius:8px;padding:24px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}
.card input{width:100%;box-sizing:border-box;padding:8px;margin:4px 0 12px;font-size:1rem}
details{margin-top:14px} pre{white-space:pre-wrap;font-size:.8rem}
"""


def page(title: str, body: str, *, user: str | None = None) -> str:
    who = (f'<form method="post" action="/signout"><span>{escape(user)}</span> '
           f'<button type="submit" id="signout">Sign out</button></form>') if user else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style></head>'
            f'<body><header><strong>flywheel · reality check</strong>{who}</header><main>{body}</main></body></html>')


def signin(error: str | None = None) -> str:
    err = f'<p class="error">{escape(error)}</p>' if error else ""
    return page("Sign in", f"""<div class="card"><h2>Annotator sign-in</h2>{err}
<form method="post" action="/signin">
<label for="name">Name</label><input id="name" name="name" autocomplete="username" required>
<label for="token">Token</label><input id="token" name="token" type="password" autocomplete="current-password" required>
<button class="submit" type="submit" id="signin">Sign in</button></form></div>""")


def _question(name: str, legend: str) -> str:
    return (f'<fieldset><legend>{legend}</legend>'
            f'<label><input type="radio" name="{name}" value="yes" id="{name}-yes" required> Yes</label>'
            f'<label><input type="radio" name="{name}" value="no" id="{name}-no"> No</label></fieldset>')


def task(t: TaskView, *, user: str, answered: int, note: str | None = None) -> str:
    msg = f'<p class="note" id="note">{escape(note)}</p>' if note else ""
    img = f"/image/{t.task_id}"
    edits = escape(json.dumps({"teacher": t.teacher, "student": t.student}, indent=1))
    body = f"""{msg}<p class="muted">Task {t.task_id} · batch {escape(t.batch_id)} · you answered {answered} so far</p>
<p class="intent">The user asked for <q id="intent">{escape(t.intent)}</q></p>
<div class="photos">
<figure><img src="{img}/original.jpg" alt="original photo"><figcaption>Original <span>({escape(t.photo)})</span>
</figcaption></figure>
<figure><img src="{img}/teacher.jpg" alt="reference edit"><figcaption>Reference edit <span>(teacher)</span>
</figcaption></figure>
<figure><img src="{img}/student.jpg" alt="edit to judge"><figcaption>Edit to judge <span>(student)</span>
</figcaption></figure></div>
<form method="post" action="/answer" class="questions"><input type="hidden" name="task_id" value="{t.task_id}">
{_question("relevant", "1. Relevancy: does the edit to judge fit the request?")}
{_question("mimics", "2. Mimicry: does it look like the reference edit?")}
<button class="submit" type="submit" id="submit">Save answer</button></form>
<details><summary class="muted">tool outputs</summary><pre>{edits}</pre></details>"""
    return page("Reality check task", body, user=user)


def done(*, user: str, answered: int, note: str | None = None) -> str:
    msg = f'<p class="note" id="note">{escape(note)}</p>' if note else ""
    return page("Nothing left", f'{msg}<h2 id="done">No task left for you</h2>'
                f'<p>You answered {answered} tasks. Thank you!</p>', user=user)


def refused(message: str, *, user: str) -> str:
    return page("Answer refused", f'<p class="error" id="error">{escape(message)}</p><p><a href="/task">Next task</a>'
                f'</p>', user=user)


