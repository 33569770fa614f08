"""`flywheel render`: the tool outputs (JSON) applied to a photo, saved as an image file."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from flywheel.cli.common import console
from flywheel.errors import UsageError

app = typer.Typer()


def _outputs(arg: str) -> dict:
    try:
        raw = Path(arg[1:]).read_text() if arg.startswith("@") else arg
        value = json.loads(raw)
    except (OSError, ValueError) as e:
        raise UsageError(f"outputs must be JSON or @file.json: {e}") from e
    if not isinstance(value, dict) or not set(value) <= {"adjust", "selective_adjust", "filter"}:
        raise UsageError('outputs must be an object with keys among "adjust", "selective_adjust", "filter"')
    return value


@app.command("render")
def render_cmd(
    outputs: str = typer.Argument(..., help='{"adjust": ..., "selective_adjust": ..., "filter": ...} or @file.json'),
    out: Path = typer.Option(..., "--out", help="image file to write (.png, .jpg, ...)"),
    photo: str = typer.Option("astronaut", "--photo", help="a bundled photo (docs/render.md#photos) or an image file"),
    max_side: int = typer.Option(1024, "--max-side", help="scale the photo down to this long side first"),
    lut_dir: Path | None = typer.Option(None, "--lut-dir", help="filter LUT cache (default <artifacts>/luts)"),
) -> None:
    """Render tool outputs on a photo (null or a missing key: tool not used)."""
    from PIL import Image

    from flywheel.render import UnknownFilter, photos, render

    edit = _outputs(outputs)
    if Path(photo).is_file():
        image = Image.open(photo).convert("RGB")
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    elif photo in photos.names():
        image = photos.load(photo, max_side=max_side)
    else:
        raise UsageError(f"unknown photo {photo!r}: a file or one of {', '.join(photos.names())}")
    try:
        result = render(image, edit, lut_dir=lut_dir)
    except UnknownFilter as e:
        raise UsageError(str(e)) from e
    out.parent.mkdir(parents=True, exist_ok=True)
    result.save(out)
    console.print(f"[green]✓[/] {out} ({result.width}x{result.height})")
