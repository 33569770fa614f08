"""Render the assistant's tool outputs on photos and score the renders (see docs/render.md)."""

from flywheel.render.renderer import UnknownFilter, edit_lut, render

__all__ = ["UnknownFilter", "edit_lut", "render"]
