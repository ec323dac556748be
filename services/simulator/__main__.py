"""Composition root of the simulator: settings -> logging -> app -> uvicorn."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from numproxy.common.http_server import serve_http
from numproxy.common.logging import configure_logging
from numproxy.common.service_command import serve, service_parser, settings_from_args
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
    args = build_parser().parse_args(argv)
    settings = settings_from_args(SimulatorSettings, args)
    configure_logging("simulator", settings.log_level, settings.log_format)
    return serve("simulator", run(settings))


def build_parser() -> argparse.ArgumentParser:
    return service_parser(
        "simulator",
        SimulatorSettings,
        "Vonage SMS API simulator. Settings: the flags below or NUMPROXY_SIMULATOR_* "
        "variables (API secret and signature secret only as variables).",
    )


if __name__ == "__main__":
    raise SystemExit(main())
