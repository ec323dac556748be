"""Render the Helm chart's values as a Markdown table into deploy/helm/numproxy/README.md.

Usage: python scripts/chart_doc.py [--check]
One row per value of values.schema.json (nested objects flattened to ``a.b.c``), with its
default from values.yaml and the schema's description. The table sits between
<!-- values:start --> and <!-- values:end -->; --check exits 1 when the README is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from typing import Any

import yaml
from doc_block import ROOT, update

CHART = ROOT / "deploy" / "helm" / "numproxy"
START, END = "<!-- values:start -->", "<!-- values:end -->"
_MISSING = object()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(value: Any) -> str:
    if value is _MISSING:
        return ""
    if value == "":
        return '`""`'
    shown = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "))
    return f"`{_cell(shown)}`"


def _type(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "")
    text = " or ".join(kind) if isinstance(kind, list) else str(kind)
    if "enum" in schema:
        text = " \\| ".join(f"`{v}`" for v in schema["enum"])
    return text


def rows(schema: dict[str, Any], values: Any, path: str = "") -> Iterator[str]:
    for name, node in schema.get("properties", {}).items():
        key = f"{path}.{name}" if path else name
        value = values.get(name, _MISSING) if isinstance(values, dict) else _MISSING
        if node.get("properties"):
            yield from rows(node, value, key)
            continue
        description = _cell(node.get("description", ""))
        yield f"| `{key}` | {_type(node)} | {_default(value)} | {description} |"


def render() -> str:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    out = [START, "", "| value | type | default | what it does |", "|---|---|---|---|"]
    out += rows(schema, values)
    out += ["", END]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    opts = parser.parse_args()
    return update(CHART / "README.md", START, END, render(), check=opts.check, make="make docs")


if __name__ == "__main__":
    sys.exit(main())
