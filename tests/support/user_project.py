"""numproxy as a user gets it: the wheel, installed with its ``testing`` extra into a fresh
virtual environment, and the test example of docs/testing.md."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTING_DOC = ROOT / "docs" / "testing.md"


@dataclass(frozen=True)
class InstalledWheel:
    wheel: Path
    venv: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def numproxy(self) -> str:
        return str(self.venv / "bin" / "numproxy")


def install_wheel(folder: Path) -> InstalledWheel:
    """Build the wheel from the checkout and install ``numproxy[testing]`` from it into a new
    virtual environment in ``folder`` (its dependencies from the configured package index)."""
    dist = folder / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=600,
    )
    (wheel,) = dist.glob("numproxy-*.whl")
    venv = folder / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[testing]"],
        check=True,
        timeout=900,
    )
    return InstalledWheel(wheel, venv)


def example_of_testing_doc() -> str:
    """The first Python block of docs/testing.md: what a user copies into their project."""
    blocks = re.findall(r"```python\n(.*?)```", TESTING_DOC.read_text(), flags=re.S)
    assert blocks, f"{TESTING_DOC} has no python example"
    return str(blocks[0])
