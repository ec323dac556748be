"""Composition root of the gateway: settings, logging, the router channel, the HTTP server."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from numproxy.common.grpc_client import open_channel
from numproxy.common.http_server import serve_http
from numproxy.common.logging import configure_logging
from numproxy.common.service_command import serve, service_parser, settings_from_args
from numproxy.common.tls import warn_plaintext
from numproxy.gateway.app import create_app
from numproxy.gateway.router_client import RouterClient
from numproxy.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Vonage webhooks (inbound SMS, Messages API, delivery receipts) -> router gRPC calls.
Settings: the flags below or NUMPROXY_GATEWAY_* variables; the signature secret only as
NUMPROXY_GATEWAY_SIGNATURE_SECRET (required unless --allow-unsigned)."""


async def run(settings: GatewaySettings) -> None:
    """Serve webhooks until SIGTERM/SIGINT, then close the router channel."""
    tls = settings.client_tls()
    if tls is None:
        warn_plaintext("the gateway's router channel")
    channel = open_channel(settings.router_address, tls)
    try:
        router = RouterClient(
            channel,
            settings.router_timeout,
            batch_max=settings.router_batch_max,
            batch_concurrency=settings.router_batch_concurrency,
        )
        app = create_app(settings, router)
        signed = bool(settings.signature_secret.get_secret_value())
        log.info(
            "gateway listening on %s:%d, router %s, signed webhooks %s",
            settings.host,
            settings.port,
            settings.router_address,
            "required" if signed else "not required",
        )
        if not signed:
            log.warning(
                "NUMPROXY_GATEWAY_ALLOW_UNSIGNED=true and no signature secret: anyone who can "
                "reach this gateway can forge webhooks"
            )
        await serve_http(app, settings.host, settings.port, settings.shutdown_grace)
    finally:
        await channel.close(None)
        log.info("gateway stopped")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the gateway until SIGTERM; returns the process exit code."""
    args = build_parser().parse_args(argv)
    settings = settings_from_args(GatewaySettings, args)
    configure_logging("gateway", settings.log_level, settings.log_format)
    return serve("gateway", run(settings), traced=True)


def build_parser() -> argparse.ArgumentParser:
    return service_parser("gateway", GatewaySettings, _DESCRIPTION)


if __name__ == "__main__":
    sys.exit(main())
