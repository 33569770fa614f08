"""The sha256 of a file, read in blocks: model archives, exported partitions and their manifests are vouched for by
it (encoder cache, retention exports, erasure's rewrites)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
