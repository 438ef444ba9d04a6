"""What every uvicorn server of the service shares: no signal capture, pre-bound sockets.

The service owns SIGINT/SIGTERM and stops its servers in order (receivers first), so
uvicorn must not install its own handlers; binding the socket before starting gives a
clear start-up error naming the endpoint instead of a log line from a background task.

The socket is made with ``IPPROTO_TCP`` named: asyncio turns Nagle's algorithm off
(``TCP_NODELAY``) only on accepted sockets whose ``proto`` says TCP, and an accepted
socket inherits the listener's. With ``proto`` 0 every small SSE write after the first
waited for the client's delayed ACK (up to 40 ms on Linux).
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Generator

import uvicorn

__all__ = ["QuietServer", "bind"]


class QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the service owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind(endpoint: str, what: str) -> socket.socket:
    """A TCP socket bound to ``HOST:PORT`` (IPv6 hosts in brackets); ``what`` names the
    server in the error."""
    host, _, port = endpoint.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, int(port)))
    except OSError as exc:
        sock.close()
        raise OSError(f"{what} cannot bind {endpoint}: {exc.strerror}") from exc
    return sock
