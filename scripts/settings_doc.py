"""Render every service's settings as Markdown tables into docs/configuration.md.

Usage: python scripts/settings_doc.py [--check]
The tables sit between <!-- settings:start --> and <!-- settings:end -->; --check exits 1
when docs/configuration.md is stale.
"""

from __future__ import annotations

import argparse
import sys

from doc_block import ROOT, update
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from numproxy.console.settings import ConsoleSettings
from numproxy.gateway.settings import GatewaySettings
from numproxy.lobby.settings import LobbySettings
from numproxy.router.settings import RouterSettings
from numproxy.sender.settings import SenderSettings
from numproxy.simulator.settings import SimulatorSettings

CONFIGURATION = ROOT / "docs" / "configuration.md"
START, END = "<!-- settings:start -->", "<!-- settings:end -->"
CLASSES: list[tuple[str, type[BaseSettings]]] = [
    ("gateway", GatewaySettings),
    ("router", RouterSettings),
    ("sender", SenderSettings),
    ("simulator", SimulatorSettings),
    ("console", ConsoleSettings),
    ("lobby", LobbySettings),
]


def _default(value: object) -> str:
    if isinstance(value, SecretStr):
        return "*(secret)*" if value.get_secret_value() else '""'
    if isinstance(value, (list, tuple, frozenset, set)):
        return ", ".join(str(v) for v in value) or '""'
    return f"`{value}`" if value not in ("", None) else '""'


def render() -> str:
    out = [START]
    for service, cls in CLASSES:
        prefix = cls.model_config.get("env_prefix", "")
        out += ["", f"**{service}**", "", "| variable | default | meaning |", "|---|---|---|"]
        for name, field in cls.model_fields.items():
            text = (field.description or "").replace("|", "\\|")
            default = _default(field.default).replace("|", "\\|")
            out.append(f"| `{prefix}{name.upper()}` | {default} | {text} |")
    out += ["", END]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    opts = parser.parse_args()
    return update(CONFIGURATION, START, END, render(), check=opts.check, make="make docs")


if __name__ == "__main__":
    sys.exit(main())
