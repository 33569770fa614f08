from __future__ import annotations

import typer

from flywheel.cli import augment, data, ingest, ops, report, simulate, stack, train

app = typer.Typer(help="flywheel: teacher -> student distillation platform.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)
bench = typer.Typer(help="Benchmarks (speed and memory goals live here, not in tests).", no_args_is_help=True)
app.add_typer(bench, name="bench")

for module in (stack, ingest, simulate, data, train, augment, report, ops):
    module.register(app, bench)


if __name__ == "__main__":
    app()
