"""The source folder has one importable name, numproxy: importing it as services from a
checkout (where the folder is on the path) fails instead of loading a second copy."""

from __future__ import annotations

import subprocess
import sys

from tests.support.user_project import ROOT


def test_services_is_not_an_importable_name_in_a_checkout() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import numproxy.client; import services.client"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "ImportError: import numproxy, not services (the package's only name is numproxy)"
    )
