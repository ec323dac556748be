"""The numproxy image: small, unprivileged, one command per service, nothing to build with."""

from __future__ import annotations

import docker
import pytest

pytestmark = pytest.mark.containers

MAX_SIZE = 300 * 1000 * 1000


def run(client: docker.DockerClient, image: str, *args: str, entrypoint: str | None = None) -> str:
    """Run to completion the way the chart runs it: read-only, no capabilities, no network."""
    out = client.containers.run(
        image,
        list(args),
        entrypoint=entrypoint,
        read_only=True,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        network_mode="none",
        tmpfs={"/tmp": ""},
        remove=True,
        stdout=True,
        stderr=True,
    )
    return bytes(out).decode()


def test_size_user_and_entrypoint(docker_client: docker.DockerClient, numproxy_image: str) -> None:
    attrs = docker_client.images.get(numproxy_image).attrs
    assert attrs["Size"] <= MAX_SIZE, f"{attrs['Size'] / 1e6:.0f} MB > 300 MB"
    config = attrs["Config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["numproxy"]
    # Nothing secret is baked in.
    assert not [e for e in config["Env"] if any(w in e for w in ("SECRET", "PASSWORD", "KEY="))]


def test_every_service_is_a_command(
    docker_client: docker.DockerClient, numproxy_image: str
) -> None:
    usage = run(docker_client, numproxy_image, "--help")
    for command in ("gateway", "router", "sender", "simulator"):
        assert command in usage
    assert "migrate" in run(docker_client, numproxy_image, "router", "--help")


def test_runs_as_non_root_on_a_read_only_root(
    docker_client: docker.DockerClient, numproxy_image: str
) -> None:
    out = run(
        docker_client,
        numproxy_image,
        "-c",
        "import os, numproxy.router.__main__, numproxy.gateway.__main__;"
        "print(os.getuid(), os.getgid(), os.getcwd())",
        entrypoint="python3",
    )
    assert out.split() == ["10001", "10001", "/var/lib/numproxy"]


def test_no_compilers_caches_or_installers(
    docker_client: docker.DockerClient, numproxy_image: str
) -> None:
    script = (
        "for c in gcc cc c++ g++ make ld as pip pip3; do command -v $c; done;"
        "ls -d /opt/numproxy/bin/pip* /root/.cache /wheels /src 2>/dev/null;"
        # (the base image's own ensurepip wheels are Python's, not a build's leftovers)
        "find / -xdev \\( -name '*.whl' -o -path '*/.cache/pip' \\)"
        " ! -path '/usr/share/python-wheels/*' ! -path '*/ensurepip/_bundled/*' 2>/dev/null;"
        "echo done"
    )
    out = run(docker_client, numproxy_image, "-c", script, entrypoint="sh")
    assert out.split() == ["done"], out
