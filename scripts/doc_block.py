"""One generated block of a markdown file: the text between a start and an end marker.

The generators (settings_doc.py, chart_doc.py) write their block with ``--check`` unset and
report a stale one with it set; everything outside the markers is left as it is.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def update(path: Path, start: str, end: str, block: str, *, check: bool, make: str) -> int:
    """Put ``block`` (which starts with ``start`` and ends with ``end``) into ``path``.

    Returns the exit status: 1 when a marker is missing, or with ``check`` when the file is
    stale (``make`` is the command that regenerates it).
    """
    text = path.read_text()
    head, found, rest = text.partition(start)
    _, found_end, tail = rest.partition(end)
    name = path.relative_to(ROOT)
    if not found or not found_end:
        print(f"{name} has no {start} ... {end} markers", file=sys.stderr)
        return 1
    updated = head + block + tail
    if check:
        if updated != text:
            print(f"{name}: generated tables are stale; run `{make}`", file=sys.stderr)
            return 1
        return 0
    if updated != text:
        path.write_text(updated)
    return 0
