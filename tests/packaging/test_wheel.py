"""The wheel, as a user installs it: its license, one top-level package, a `testing` extra
that is enough for the docs' test example (collected here; run by the container suite)."""

from __future__ import annotations

import subprocess
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from tests.support.user_project import ROOT, InstalledWheel, example_of_testing_doc

pytestmark = pytest.mark.packaging


def test_the_wheel_carries_the_declared_license_and_only_numproxy(
    installed_wheel: InstalledWheel,
) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    with zipfile.ZipFile(installed_wheel.wheel) as wheel:
        names = wheel.namelist()
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        fields = Parser().parsestr(wheel.read(metadata).decode())
        (license_file,) = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
        license_text = wheel.read(license_file).decode()
    assert fields["License-Expression"] == project["license"] == "Apache-2.0"
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert license_text == (ROOT / "LICENSE").read_text()
    top_level = {name.split("/")[0] for name in names if "dist-info" not in name}
    assert top_level == {"numproxy"}
    assert "testing" in fields.get_all("Provides-Extra", [])


def test_installed_it_runs_and_is_importable_only_as_numproxy(
    installed_wheel: InstalledWheel, tmp_path: Path
) -> None:
    helped = subprocess.run(
        [installed_wheel.numproxy, "sender", "--help"], capture_output=True, text=True
    )
    assert helped.returncode == 0, helped.stderr
    assert "--rate-limit" in helped.stdout
    imports = subprocess.run(
        [installed_wheel.python, "-c", "import numproxy.testing, numproxy.client; import services"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout, whose services/ folder is importable from its root
    )
    assert "No module named 'services'" in imports.stderr


def test_the_docs_test_example_is_collected_with_the_testing_extra(
    installed_wheel: InstalledWheel, tmp_path: Path
) -> None:
    (tmp_path / "test_example.py").write_text(example_of_testing_doc())
    collected = subprocess.run(
        [
            *(installed_wheel.python, "-m", "pytest", "--collect-only", "-q"),
            *("-p", "no:cacheprovider", "-o", "asyncio_mode=auto", "test_example.py"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "test_example.py::test_buyer_texts_seller_through_a_proxy_number" in collected.stdout
