"""The test example of docs/testing.md, run as a user would: copied into a project of its own
and run by pytest from a fresh virtual environment with the wheel installed with its
``testing`` extra, with nothing from our test suite."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.user_project import InstalledWheel, example_of_testing_doc

pytestmark = [pytest.mark.containers, pytest.mark.packaging]


def test_the_documented_example_passes(
    numproxy_image: str, postgres_image: str, installed_wheel: InstalledWheel, tmp_path: Path
) -> None:
    example = example_of_testing_doc()
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
            installed_wheel.python,
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
