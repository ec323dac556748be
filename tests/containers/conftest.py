"""Container suite: real images on a real Docker engine (scripts/docker/provision.sh makes both).

Outside CI, a test that needs the engine or an image is skipped with the reason; with CI=true it
fails instead, so a CI machine that cannot run containers never passes silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from numproxy.testing import configure_testcontainers

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "numproxy"
NUMPROXY_IMAGE = os.environ.get("NUMPROXY_IMAGE", "numproxy:dev")
POSTGRES_IMAGE = os.environ.get("NUMPROXY_POSTGRES_IMAGE", "local/postgres:15")
HELMS = {"helm3": ROOT / ".tools" / "helm3" / "helm", "helm4": ROOT / ".tools" / "helm4" / "helm"}

configure_testcontainers()


def unavailable(reason: str) -> None:
    """Skip (developer machine) or fail (CI) a test whose prerequisite is missing."""
    how = "run `make test-containers` or `bash scripts/docker/provision.sh`"
    if IN_CI:
        pytest.fail(f"{reason} ({how}); CI must not skip container tests", pytrace=False)
    pytest.skip(f"{reason} ({how})")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as exc:
        unavailable(f"no Docker engine reachable: {exc}")
    yield client
    client.close()


def _require_image(client: object, image: str) -> str:
    import docker

    assert isinstance(client, docker.DockerClient)
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        unavailable(f"image {image} is missing")
    return image


@pytest.fixture(scope="session")
def numproxy_image(docker_client: object) -> str:
    return _require_image(docker_client, NUMPROXY_IMAGE)


@pytest.fixture(scope="session")
def postgres_image(docker_client: object) -> str:
    return _require_image(docker_client, POSTGRES_IMAGE)


@pytest.fixture(scope="session", params=sorted(HELMS))
def helm(request: pytest.FixtureRequest) -> Path:
    path = HELMS[request.param]
    if not path.exists():
        unavailable(f"{path} is missing (bash scripts/helm/tools.sh)")
    return path


@pytest.fixture(scope="session")
def helm3() -> Path:
    path = HELMS["helm3"]
    if not path.exists():
        unavailable(f"{path} is missing (bash scripts/helm/tools.sh)")
    return path
