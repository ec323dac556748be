"""Composition root of the sender: settings -> logging -> tracing -> metrics -> HTTP client ->
sender -> server (tracing -> error mapping -> authentication -> authorization; and the metrics
server, when a port is set)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from numproxy.common.authorization import Authentication, AuthorizationInterceptor
from numproxy.common.grpc_server import GrpcService
from numproxy.common.http_client import build_http_client
from numproxy.common.logging import configure_logging
from numproxy.common.metrics import serve_metrics
from numproxy.common.service_command import serve, service_parser, settings_from_args
from numproxy.common.tls import ServerAuth
from numproxy.sender.idempotency import IdempotencyCache
from numproxy.sender.metrics import SenderMetrics
from numproxy.sender.ratelimit import RateLimiters
from numproxy.sender.service import RetryPolicy, SendResult, SmsSender
from numproxy.sender.servicer import SERVICE_NAME, SenderServicer, register
from numproxy.sender.settings import SenderSettings
from numproxy.sender.vonage import Credentials, VonageClient

log = logging.getLogger(__name__)


def credentials(settings: SenderSettings) -> Credentials:
    return Credentials(
        api_key=settings.api_key,
        api_secret=settings.api_secret.get_secret_value(),
        auth_method=settings.auth_method,
        signature_secret=settings.signature_secret.get_secret_value(),
        signature_method=settings.signature_method,
    )


def build_service(
    settings: SenderSettings, sender: SmsSender, authentication: Authentication = ()
) -> GrpcService:
    async def ready() -> bool:
        return settings.credentials_complete()

    return GrpcService(
        bind=f"{settings.host}:{settings.port}",
        services=[SERVICE_NAME],
        register=register(SenderServicer(sender)),
        auth=ServerAuth.from_settings(settings),
        readiness=ready,
        grace=settings.shutdown_grace,
        interceptors=[
            *authentication,
            AuthorizationInterceptor(settings.callers, anonymous=settings.anonymous_caller),
        ],
        reflection=settings.reflection,
    )


def build_sender(
    settings: SenderSettings, client: VonageClient, metrics: SenderMetrics | None = None
) -> SmsSender:
    limiters = RateLimiters(settings.rate_limit)
    return SmsSender(
        client,
        limiters.for_key(settings.api_key),
        IdempotencyCache[SendResult](settings.idempotency_window, settings.idempotency_max_entries),
        RetryPolicy(
            initial_backoff=settings.retry_initial_backoff,
            max_backoff=settings.retry_max_backoff,
            max_send_time=settings.max_send_time,
            http_timeout=settings.http_timeout,
        ),
        ttl_ms=settings.ttl_ms,
        metrics=metrics,
    )


async def run(settings: SenderSettings) -> None:
    """Serve SenderService until SIGTERM; the HTTP client is closed after the server stops."""
    http = build_http_client(
        settings.http_transport,
        timeout=settings.http_timeout,
        max_connections=settings.http_max_connections,
    )
    client = VonageClient(http, settings.base_url, credentials(settings))
    limit = f"{settings.rate_limit:g}/s per API key" if settings.rate_limit else "none"
    log.info("sending to %s, rate limit %s", settings.base_url, limit)
    metrics = SenderMetrics() if settings.metrics_port else None
    service = build_service(settings, build_sender(settings, client, metrics))
    service.on_shutdown(http.aclose)
    if metrics is not None:
        server = serve_metrics(metrics.registry, settings.host, settings.metrics_port)

        async def close_metrics() -> None:
            server.close()

        service.on_shutdown(close_metrics)
    await service.run()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = settings_from_args(SenderSettings, args)
    configure_logging("sender", settings.log_level, settings.log_format)
    return serve("sender", run(settings), traced=True)


def build_parser() -> argparse.ArgumentParser:
    return service_parser(
        "sender",
        SenderSettings,
        "Sender gRPC service: sends SMS through the Vonage SMS API. Settings: the flags below "
        "or NUMPROXY_SENDER_* variables (API secret and signature secret only as variables).",
    )


if __name__ == "__main__":
    raise SystemExit(main())
