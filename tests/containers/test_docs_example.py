"""The "Use in your tests" example of the README, run as a user would:
copied into a project of its own and run by pytest, with nothing from our test suite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.containers.conftest import ROOT

pytestmark = pytest.mark.containers

README = ROOT / "README.md"


def test_the_documented_example_passes(
    numproxy_image: str, postgres_image: str, tmp_path: Path
) -> None:
    section = README.read_text().split("## Use in your tests", 1)[1].split("\n## ", 1)[0]
    (example,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    # A fixture and a ten-line test: short enough to copy.
    assert len([line for line in example.splitlines() if line.strip()]) <= 15
    (tmp_path / "test_example.py").write_text(example)
    env = {
        **os.environ,
        "NUMPROXY_TESTING_IMAGE": numproxy_image,
        # Where no registry can be reached, the locally built PostgreSQL stands in.
        "NUMPROXY_TESTING_POSTGRES_IMAGE": postgres_image,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            "test_example.py",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
