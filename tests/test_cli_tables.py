"""Tables off a terminal (logs, pipes, `make demo | tee`): one plain line per row, never cells wrapped at 80 columns."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from flywheel.contracts import ADJUST_KEYS
from flywheel.evaluation.metrics import evaluate
from flywheel.evaluation.table import rq1_table
from flywheel.textable import plain_table, print_table, table_text


def _adjust(**kw: int) -> dict[str, int]:
    return {k: kw.get(k, 0) for k in ADJUST_KEYS}


def _row(intent: str, adjust: dict | None, flt: str | None, support: int | None = None) -> dict:
    r = {"intent": intent, "adjust": adjust, "selective_adjust": None,
         "filter": {"name": flt, "intensity": 40} if flt else None}
    return r if support is None else {**r, "support": support}


REFS = [_row("a", _adjust(exposure=3), "faded_Dawn", 5), _row("b", None, None, 3),
        _row("c", _adjust(contrast=5), None, 1)]
PREDS = [_row("a", _adjust(exposure=2), "faded_Dawn"), _row("b", _adjust(exposure=1), None), _row("c", None, None)]


def _non_tty(width: int = 80) -> tuple[Console, io.StringIO]:
    buf = io.StringIO()
    return Console(file=buf, width=width, force_terminal=False), buf


def test_rq1_table_off_a_terminal_is_one_line_per_row() -> None:
    table = rq1_table(evaluate(PREDS, REFS), model="seq2seq:tiny")
    console, buf = _non_tty()
    assert not console.is_terminal
    print_table(console, table)
    lines = buf.getvalue().rstrip("\n").split("\n")
    title, header, rule, *rows = lines
    assert title.startswith("RQ1")
    assert header.split()[:3] == ["Model", "Test", "n"] and "Selective Adjust" in header and "Overall" in header
    assert set(rule.replace(" ", "")) == {"-"}
    # One line per subset (All, r_3, r_5): every row holds its three tool cells and the overall, unwrapped.
    assert [r.split()[1] if r.startswith("seq2seq") else r.split()[0] for r in rows] == list(
        evaluate(PREDS, REFS).subsets)
    for r in rows:
        assert r.count("(") == 3 and r.count(")") == 3, r
        assert r.rstrip().endswith("%"), r
    assert len(header) > 80  # wider than the console: a rich table would have wrapped it
    # Columns line up: the Overall header ends where every row's Overall cell ends (right-justified).
    end = header.index("Overall") + len("Overall")
    assert all(r[end - 1] != " " and (len(r) == end or r[end] == " ") for r in rows), rows


def test_rich_table_wraps_at_80_columns_which_is_why_plain_text_exists() -> None:
    table = rq1_table(evaluate(PREDS, REFS), model="seq2seq:tiny")
    console, buf = _non_tty()
    console.print(table)
    assert len(buf.getvalue().splitlines()) > 3 + 2 * table.row_count  # cells wrapped onto extra lines


def test_terminal_keeps_the_rich_table() -> None:
    buf = io.StringIO()
    console = Console(file=buf, width=200, force_terminal=True, color_system=None)
    t = Table(title="t")
    t.add_column("a")
    t.add_row("x")
    print_table(console, t)
    assert "┃" in buf.getvalue() or "│" in buf.getvalue()


def test_plain_table_alignment_markup_and_multiline_headers() -> None:
    t = Table(title="Set — split sp-1")
    t.add_column("Set")
    t.add_column("Adjust\nUsed", justify="right")
    t.add_row("Train", "1,234")
    t.add_row("[bold]all[/]", "5")
    assert table_text(t).splitlines() == [
        "Set — split sp-1",
        "Set    Adjust Used",
        "-----  -----------",
        "Train        1,234",
        "all              5",
    ]
    assert plain_table(["k", "v"], [["a"]]).splitlines()[-1] == "a"  # short rows are padded, trailing space cut
