"""`python -m flywheel.render {luts,render}` (the timing of render() is `flywheel bench render`, with the referee)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m flywheel.render")
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("luts", help="generate the .cube file of every catalogue filter")
    g.add_argument("--out", type=Path, default=None, help="cache folder (default: <artifacts_dir>/luts)")
    r = sub.add_parser("render", help="render tool outputs (JSON) on a photo and save a PNG")
    r.add_argument("outputs", help='JSON {"adjust": ..., "selective_adjust": ..., "filter": ...} or @file.json')
    r.add_argument("--photo", default="astronaut")
    r.add_argument("--max-side", type=int, default=1024)
    r.add_argument("--out", type=Path, required=True)
    r.add_argument("--lut-dir", type=Path, default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "luts":
        from flywheel.contracts import load_tool_contracts
        from flywheel.render.luts import generate_filter_cube
        from flywheel.render.renderer import default_lut_dir

        out = args.out or default_lut_dir()
        for name, tags in load_tool_contracts().filters.items():
            print(generate_filter_cube(name=name, tags=tags, cache_dir=out))
    else:
        from flywheel.render import photos, render

        raw = Path(args.outputs[1:]).read_text() if args.outputs.startswith("@") else args.outputs
        image = render(photos.load(args.photo, max_side=args.max_side), json.loads(raw), lut_dir=args.lut_dir)
        image.save(args.out)
        print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
