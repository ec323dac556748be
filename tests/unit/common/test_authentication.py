"""Authentication: the caller a handler sees, over real TLS servers of the test CA."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from numproxy.common.authentication import (
    AuthenticationInterceptor,
    TokenTable,
    certificate_identity,
    token_hash,
)
from numproxy.common.caller import current_caller
from numproxy.common.errors import error_info
from numproxy.common.grpc_client import is_serving, open_channel
from numproxy.common.grpc_server import GrpcService
from numproxy.common.local_ca import ensure_local_ca, identity_files
from numproxy.common.tls import PLAINTEXT_SERVER, ClientTls, ServerAuth
from tests.support.postgres import free_port
from tests.support.tls import client_tls, identity, server_tls

# A service whose answer is who called it: unary, and a stream of two answers.
WHO = "/test.Who/Unary"
WHO_STREAM = "/test.Who/Stream"
TOKEN = "a-long-random-token-for-ci"


def _raw(data: bytes) -> bytes:
    return data


def register_who(server: grpc.aio.Server) -> None:
    async def unary(request: bytes, context: object) -> bytes:
        caller = current_caller()
        return (caller.name if caller else "-").encode()

    async def stream(request: bytes, context: object) -> AsyncIterator[bytes]:
        for _ in range(2):
            caller = current_caller()
            yield (caller.name if caller else "-").encode()

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary, _raw, _raw),
        "Stream": grpc.unary_stream_rpc_method_handler(stream, _raw, _raw),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("test.Who", handlers),))


Serve = Callable[[ServerAuth], Awaitable[GrpcService]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    started: list[GrpcService] = []

    async def start(auth: ServerAuth) -> GrpcService:
        service = GrpcService(
            bind="127.0.0.1:0",
            services=["test.Who"],
            register=register_who,
            auth=auth,
            grace=0,
            reflection=True,
        )
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop()


def mtls(**extra: Any) -> ServerAuth:
    return ServerAuth(server_tls("router"), **extra)


async def who(channel: grpc.aio.Channel, method: str = WHO) -> list[str]:
    if method == WHO_STREAM:
        call = channel.unary_stream(method, _raw, _raw)(b"", timeout=5)
        return [answer.decode() async for answer in call]
    return [(await channel.unary_unary(method, _raw, _raw)(b"", timeout=5)).decode()]


async def refused(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


@pytest.mark.parametrize("method", [WHO, WHO_STREAM])
async def test_the_handler_sees_the_client_certificate_name(serve: Serve, method: str) -> None:
    service = await serve(mtls())
    for name in ("admin", "gateway"):
        async with open_channel(f"127.0.0.1:{service.port}", client_tls(name)) as channel:
            assert await who(channel, method) == [name] * (2 if method == WHO_STREAM else 1)


async def test_no_client_certificate_or_another_ca_is_refused(serve: Serve, tmp_path: Path) -> None:
    service = await serve(mtls())
    address = f"127.0.0.1:{service.port}"
    no_cert = ClientTls.from_files(identity("admin").ca)
    foreign = ensure_local_ca(tmp_path / "other", ["admin"])["admin"]
    # A certificate of another CA, even for a trusted name, and the right CA with no
    # certificate: the handshake fails, nothing reaches a handler.
    stranger = ClientTls(no_cert.ca, foreign.cert.read_bytes(), foreign.key.read_bytes())
    for tls in (no_cert, stranger):
        async with open_channel(address, tls) as channel:
            error = await refused(who(channel))
            assert error.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_bearer_token_maps_to_its_name_on_the_token_port(serve: Serve) -> None:
    service = await serve(mtls(tokens={"ci": token_hash(TOKEN)}, token_port=free_port()))
    address = f"127.0.0.1:{service.token_port}"
    ca_only = ClientTls.from_files(identity("admin").ca)
    async with open_channel(address, ca_only, token=TOKEN) as channel:
        assert await who(channel, WHO_STREAM) == ["ci", "ci"]
    cases = {"wrong-token": "UNKNOWN_TOKEN", None: "NO_CREDENTIALS"}
    for token, reason in cases.items():
        async with open_channel(address, ca_only, token=token) as channel:
            error = await refused(who(channel))
            assert error.code() == grpc.StatusCode.UNAUTHENTICATED
            info = error_info(error)
            assert info is not None and info.reason == reason
            assert token is None or token not in (error.details() or "")


async def test_health_needs_no_identity_but_reflection_does(serve: Serve) -> None:
    service = await serve(mtls(token_port=free_port(), health_port=free_port()))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.health_port}") as channel:
        assert await is_serving(channel)
        # The health port serves health only: no other service is reachable on it.
        error = await refused(who(channel))
        assert error.code() == grpc.StatusCode.UNIMPLEMENTED
    ca_only = ClientTls.from_files(identity("admin").ca)
    async with open_channel(f"127.0.0.1:{service.token_port}", ca_only) as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        error = await refused(anext(aiter(stub.ServerReflectionInfo(iter([request])))))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_plaintext_calls_without_token_have_no_caller_and_tokens_are_checked(
    serve: Serve,
) -> None:
    auth = ServerAuth(None, {"ci": token_hash(TOKEN)})
    service = await serve(auth)
    address = f"127.0.0.1:{service.port}"
    async with open_channel(address, None) as channel:
        assert await who(channel) == ["-"]  # no caller bound
        bad = channel.unary_unary(WHO, _raw, _raw)
        error = await refused(bad(b"", metadata=(("authorization", "Bearer nope"),), timeout=5))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED
        good = await bad(b"", metadata=(("authorization", f"Bearer {TOKEN}"),), timeout=5)
        assert good == b"ci"
    assert PLAINTEXT_SERVER.tls is None


def test_certificate_identity_prefers_dns_then_uri_then_cn() -> None:
    full = {
        "peer_dns": [b"router", b"localhost"],
        "peer_uri": [b"spiffe://numproxy/router"],
        "x509_common_name": [b"cn-router"],
    }
    assert certificate_identity(full) == "router"
    assert certificate_identity({**full, "peer_dns": []}) == "spiffe://numproxy/router"
    assert certificate_identity({"x509_common_name": [b"cn-router"]}) == "cn-router"
    assert certificate_identity({"transport_security_type": [b"insecure"]}) is None


def test_token_table_matches_the_hash_only() -> None:
    table = TokenTable({"ci": token_hash(TOKEN), "ops": token_hash("other")})
    assert table.name_of(TOKEN) == "ci"
    assert table.name_of("other") == "ops"
    assert table.name_of(token_hash(TOKEN)) is None  # the hash itself is not a token
    assert table.name_of("") is None


def test_the_dev_identities_carry_their_name_first(tmp_path: Path) -> None:
    from cryptography import x509

    files = ensure_local_ca(tmp_path, ["router"], ["localhost", "127.0.0.1"])
    cert = x509.load_pem_x509_certificate(files["router"].cert.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["router", "localhost"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert oct(files["router"].key.stat().st_mode & 0o777) == "0o600"
    assert oct((tmp_path / "ca-key.pem").stat().st_mode & 0o777) == "0o600"
    before = files["router"].cert.read_bytes()
    # Kept while valid; remade when missing or not signed by the folder's CA.
    assert ensure_local_ca(tmp_path, ["router"])["router"].cert.read_bytes() == before
    files["router"].cert.unlink()
    assert ensure_local_ca(tmp_path, ["router"])["router"].cert.read_bytes() != before
    foreign = ensure_local_ca(tmp_path / "other", ["router"])["router"].cert.read_bytes()
    identity_files(tmp_path, "router").cert.write_bytes(foreign)
    remade = ensure_local_ca(tmp_path, ["router"])["router"].cert.read_bytes()
    assert remade != foreign
    assert x509.load_pem_x509_certificate(remade).issuer == cert.issuer


def test_interceptor_needs_no_server_to_refuse_a_malformed_header() -> None:
    class Context:
        def auth_context(self) -> dict[str, list[bytes]]:
            return {}

        def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
            return (("authorization", "Basic abc"),)

    from numproxy.common.errors import Unauthenticated

    with pytest.raises(Unauthenticated) as caught:
        AuthenticationInterceptor({}).identify(Context())  # type: ignore[arg-type]
    assert caught.value.reason == "BAD_AUTHORIZATION"
    assert "abc" not in caught.value.message  # the credential is never echoed
