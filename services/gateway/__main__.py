"""Composition root of the gateway: settings, logging, the router channel, the HTTP server."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from numproxy.common.eventloop import run as run_event_loop
from numproxy.common.grpc_client import open_channel
from numproxy.common.http_server import serve_http
from numproxy.common.logging import configure_logging
from numproxy.common.settings import load_settings
from numproxy.common.tracing import configure_tracing
from numproxy.gateway.app import create_app
from numproxy.gateway.router_client import RouterClient
from numproxy.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Vonage webhooks (inbound SMS, Messages API, delivery receipts) -> router gRPC calls.
Configured only by NUMPROXY_GATEWAY_* environment variables: HOST, PORT, ROUTER_ADDRESS,
ROUTER_TIMEOUT, ROUTER_BATCH_MAX, ROUTER_BATCH_CONCURRENCY, SIGNATURE_SECRET (required unless
ALLOW_UNSIGNED=true), SIGNATURE_METHOD, SIGNATURE_MAX_AGE, REPLAY_CACHE_SIZE, MAX_BODY_BYTES,
LOG_LEVEL, LOG_FORMAT, SHUTDOWN_GRACE."""


async def run(settings: GatewaySettings) -> None:
    """Serve webhooks until SIGTERM/SIGINT, then close the router channel."""
    channel = open_channel(settings.router_address)
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
    parser = argparse.ArgumentParser(prog="numproxy gateway", description=_DESCRIPTION)
    parser.parse_args(list(argv) if argv is not None else [])
    settings = load_settings(GatewaySettings)
    configure_logging("gateway", settings.log_level, settings.log_format)
    stop_tracing = configure_tracing("gateway", os.environ)
    try:
        run_event_loop(run(settings))
    finally:
        stop_tracing()  # exports the spans still buffered
    return 0


if __name__ == "__main__":
    sys.exit(main())
