"""A taken port is found before a server binds, and said in one line."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from starlette.applications import Starlette

from numproxy.common.grpc_server import GrpcService
from numproxy.common.http_server import serve_http
from numproxy.common.ports import PortInUse, ensure_free, split_bind
from tests.support.postgres import free_port


@pytest.fixture
def taken() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def test_a_listening_port_is_taken(taken: int) -> None:
    with pytest.raises(PortInUse) as caught:
        ensure_free("127.0.0.1", taken)
    assert (caught.value.host, caught.value.port) == ("127.0.0.1", taken)
    assert str(caught.value) == f"127.0.0.1:{taken} is already in use"


def test_a_listener_that_shares_its_port_is_taken_too() -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(PortInUse):
            ensure_free("127.0.0.1", sock.getsockname()[1])


def test_a_free_port_and_port_zero_pass() -> None:
    port = free_port()
    ensure_free("127.0.0.1", port)
    ensure_free("127.0.0.1", port)  # the check itself leaves nothing behind
    ensure_free("127.0.0.1", 0)


def test_split_bind() -> None:
    assert split_bind("0.0.0.0:50051") == ("0.0.0.0", 50051)
    assert split_bind("[::]:8080") == ("::", 8080)


async def test_grpc_service_on_a_taken_port_raises_port_in_use(taken: int) -> None:
    service = GrpcService(bind=f"127.0.0.1:{taken}", services=[], register=lambda _: None)
    with pytest.raises(PortInUse) as caught:
        await service.start()
    assert caught.value.port == taken


async def test_http_server_on_a_taken_port_raises_port_in_use(taken: int) -> None:
    with pytest.raises(PortInUse) as caught:
        await serve_http(Starlette(), "127.0.0.1", taken, grace=1.0)
    assert caught.value.port == taken
