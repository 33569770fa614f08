"""Tables for people and for logs: a rich table on a terminal, plain aligned text anywhere else.

Rich fits a table to the console width, which is 80 columns when output goes to a file or a pipe (`make demo | tee`,
Airflow task logs, CI): wide tables then wrap every cell over several lines and cannot be read or grepped. Off a
terminal, `print_table` writes one line per row instead, columns padded to their widest cell, without wrapping.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text


def _plain(cell: object) -> str:
    """A cell as one line of plain text (markup removed, line breaks in headers joined by a space)."""
    text = cell.plain if isinstance(cell, Text) else Text.from_markup(str(cell)).plain
    return " ".join(text.split("\n"))


def plain_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, title: str | None = None,
                right: Sequence[bool] | None = None) -> str:
    """Rows as aligned plain text: an optional title line, the header, a rule, one line per row."""
    head = [_plain(h) for h in headers]
    body = [[_plain(c) for c in row] + [""] * (len(head) - len(row)) for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in body]) for i, h in enumerate(head)]
    right = list(right) if right is not None else [False] * len(head)

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)).rstrip()

    out = [title] if title else []
    out += [line(head), "  ".join("-" * w for w in widths)] + [line(r) for r in body]
    return "\n".join(out)


def table_text(table: Table) -> str:
    """A rich Table rendered as `plain_table` text (same title, headers, cells and right-justified columns)."""
    columns = table.columns
    cells = [list(c.cells) for c in columns]
    rows = [[col[i] if i < len(col) else "" for col in cells] for i in range(table.row_count)]
    title = _plain(table.title) if table.title is not None else None
    return plain_table([_plain(c.header) for c in columns], rows, title=title,
                       right=[c.justify == "right" for c in columns])


def print_table(console: Console, table: Table) -> None:
    """Print `table` as a rich table on a terminal, as plain aligned lines (one per row) otherwise."""
    if console.is_terminal:
        console.print(table)
    else:
        console.print(table_text(table), markup=False, highlight=False, soft_wrap=True)
