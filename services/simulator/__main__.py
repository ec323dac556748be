"""Composition root of the simulator: settings -> logging -> app -> uvicorn."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from numproxy.common.eventloop import run as run_event_loop
from numproxy.common.http_server import serve_http
from numproxy.common.logging import configure_logging
from numproxy.common.settings import load_settings
from numproxy.simulator.app import create_app
from numproxy.simulator.settings import SimulatorSettings

log = logging.getLogger(__name__)


async def run(settings: SimulatorSettings) -> None:
    """Serve the simulator until SIGTERM/SIGINT."""
    log.info(
        "simulating Vonage on %s:%d, webhooks to %s",
        settings.host,
        settings.port,
        settings.gateway_url,
    )
    await serve_http(create_app(settings), settings.host, settings.port, settings.shutdown_grace)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="numproxy simulator",
        description="Vonage SMS API simulator (configured by NUMPROXY_SIMULATOR_* variables).",
    )
    parser.add_argument("--port", type=int, help="override NUMPROXY_SIMULATOR_PORT")
    parser.add_argument("--gateway-url", help="override NUMPROXY_SIMULATOR_GATEWAY_URL")
    args = parser.parse_args(argv)
    updates: dict[str, object] = {}
    if args.port is not None:
        updates["port"] = args.port
    if args.gateway_url:
        updates["gateway_url"] = args.gateway_url
    settings = load_settings(SimulatorSettings).model_copy(update=updates)
    configure_logging("simulator", settings.log_level, settings.log_format)
    run_event_loop(run(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
