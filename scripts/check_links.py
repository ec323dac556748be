"""Check every relative link and anchor in the repository's markdown files.

Usage: python scripts/check_links.py [FILE.md ...]
Without arguments: every markdown file git knows of (tracked or not ignored). A link to a
file or folder must exist; a ``#anchor`` must name a heading (GitHub's slugs) or an
``id``/``name`` attribute of the target file. External links (any URL scheme) are not
fetched. Prints one line per broken link and exits 1 when there is any.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent

_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_CODE_SPAN = re.compile(r"(`+).*?\1")
_INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+[\"'(].*?[\"')])?\s*\)"
)
_REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$")
_HTML = re.compile(r"""<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.I)
_HTML_ID = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""", re.I)
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def markdown_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return sorted({ROOT / name for name in listed if (ROOT / name).is_file()})


def prose_lines(text: str, *, code_spans: bool = False) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks; code spans blanked unless kept."""
    fence = ""
    for number, line in enumerate(text.splitlines(), 1):
        match = _FENCE.match(line)
        if match and (not fence or match.group(1) == fence):
            fence = "" if fence else match.group(1)
            continue
        if not fence:
            yield number, line if code_spans else _CODE_SPAN.sub("", line)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text without markup, lower case, punctuation
    dropped, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = re.sub(r"<[^>]+>", "", text).lower()
    kept = "".join(
        c
        for c in text
        if c in " -_" or unicodedata.category(c)[0] in "LNM"  # letters, numbers, marks
    )
    return kept.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _, line in prose_lines(path.read_text(), code_spans=True):
        found.update(_HTML_ID.findall(line))
        match = _HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(text: str) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(text):
        for pattern in (_INLINE, _REFERENCE, _HTML):
            for target in pattern.findall(line):
                yield number, target


def check(path: Path, cache: dict[Path, set[str]]) -> list[str]:
    problems = []
    for number, target in links(path.read_text()):
        if not target or _SCHEME.match(target):
            continue  # external (not fetched) or empty
        file_part, _, anchor = target.partition("#")
        file_part = unquote(file_part.split("?", 1)[0])
        resolved = (path.parent / file_part).resolve() if file_part else path
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        where = f"{shown}:{number}: {target}"
        if not resolved.exists():
            problems.append(f"{where}: no such file")
            continue
        if anchor and resolved.suffix == ".md":
            if resolved not in cache:
                cache[resolved] = anchors(resolved)
            if unquote(anchor).lower() not in cache[resolved]:
                problems.append(f"{where}: no heading or id #{anchor}")
    return problems


def main(argv: list[str]) -> int:
    files = [Path(name).resolve() for name in argv] or markdown_files()
    cache: dict[Path, set[str]] = {}
    problems = [problem for path in files for problem in check(path, cache)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} broken link(s) in markdown files", file=sys.stderr)
        return 1
    print(f"links ok: {len(files)} markdown files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
