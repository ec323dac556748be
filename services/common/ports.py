"""Ports a service is about to listen on: is one taken, and saying so in one line.

Checked before a server binds, so a taken port is an ``error: ...`` line naming the port and
how to choose another, not a server library's log line and a traceback. A server that still
fails to bind (the port was taken in between) exits with ``EXIT_PORT_IN_USE``, so whoever
started it can name the port too.
"""

from __future__ import annotations

import errno
import socket

# Exit status of a service whose port is taken (2 is already "invalid configuration").
EXIT_PORT_IN_USE = 3


class PortInUse(Exception):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(f"{host}:{port} is already in use")
        self.host = host
        self.port = port


def ensure_free(host: str, port: int) -> None:
    """Raise :class:`PortInUse` when something already listens on (or holds) ``host:port``.

    Binds a throwaway socket the way the servers do (SO_REUSEADDR, so connections of an
    earlier run in TIME_WAIT do not count; no SO_REUSEPORT, so a listener that allows port
    sharing still counts). Port 0 (any free port) is never taken.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(host, port) from None
            raise


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (``[::]:port`` for IPv6) -> (host, port)."""
    host, _, port = bind.rpartition(":")
    return host.strip("[]"), int(port)
