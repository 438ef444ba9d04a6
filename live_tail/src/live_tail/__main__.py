"""Run the API on its own: ``python -m live_tail --config tasklogs.yaml``.

For deployments that scale the API apart from receivers and writers: live lines come
from the Redis bus (``redis:``), history from the store the host picks
(:meth:`~collector_service.service.host.ServiceHost.history_store`: the first configured
store exporter, a ClickHouse or PostgreSQL server; an embedded chDB directory belongs to
one process). The same seam as ``tasklogs serve``: every installed extension runs on a
host, and the core's API serves what they add.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Generator
from pathlib import Path

import uvicorn

from collector_service.component.exporter import resolve_exporters
from collector_service.component.extension import resolve_extensions
from collector_service.errors import TasklogsError
from collector_service.gc_tune import settle_heap
from collector_service.service.api import build_api
from collector_service.service.config import Config, load_config
from collector_service.service.host import ServiceHost

__all__ = ["main"]

_log = logging.getLogger("live_tail")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn that tells the extensions first (open SSE streams end), so SIGTERM does
    not wait on them, and exits 0 after a graceful stop (stock uvicorn re-raises the
    signal)."""

    def __init__(self, config: uvicorn.Config, host: ServiceHost) -> None:
        super().__init__(config)
        self.host = host

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: object) -> None:
        self.host.drain_extensions()
        super().handle_exit(sig, frame)  # type: ignore[arg-type]


async def _serve(config: Config, host: ServiceHost, endpoint: str) -> None:
    await host.start_extensions()
    settle_heap()  # start-up ends here (uvicorn's own start is small)
    try:
        addr, _, port = endpoint.rpartition(":")
        server = _Server(
            uvicorn.Config(
                build_api(host),
                host=addr,
                port=int(port),
                log_level="info",
                lifespan="off",
                timeout_graceful_shutdown=10,
            ),
            host,
        )
        await server.serve()
    finally:
        host.drain_extensions()
        await host.shutdown_extensions()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m live_tail", description=__doc__)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--endpoint", default=None, help="HOST:PORT (default: api.endpoint)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        config = load_config(args.config)
        host = ServiceHost.from_config(config)
        specs = resolve_exporters(config, host=host)  # every section validated first
        host.create_extensions(resolve_extensions(config.extensions))
        host.start_history_store(specs)
    except TasklogsError as exc:
        print(f"live_tail: error: {exc}", file=sys.stderr)
        return 1
    if config.redis is None:
        _log.warning("no redis: configured: this API sees no live lines from other processes")
    try:
        asyncio.run(_serve(config, host, args.endpoint or config.api.endpoint))
    finally:
        host.stop_exporters()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
