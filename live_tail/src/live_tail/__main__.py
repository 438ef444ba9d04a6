"""Run the API on its own: ``python -m live_tail --config tasklogs.yaml``.

For deployments that scale the API apart from receivers and writers: live lines come
from the Redis bus (``redis:``), history from the first configured store exporter (a
ClickHouse or PostgreSQL server; an embedded chDB directory belongs to one process).
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

from collector_service.component.exporter import Exporter, resolve_exporters
from collector_service.component.store import LogStore
from collector_service.errors import TasklogsError
from collector_service.service.config import load_config
from live_tail.app import create_app
from live_tail.wiring import make_bus

_log = logging.getLogger("live_tail")
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Server(uvicorn.Server):
    """uvicorn that ends open SSE streams first, so SIGTERM does not wait on them, and
    exits 0 after a graceful stop (stock uvicorn re-raises the signal)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: object) -> None:
        self.config.app.state.live.shutdown()  # type: ignore[union-attr]
        super().handle_exit(sig, frame)  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m live_tail", description=__doc__)
    ap.add_argument("--config", type=Path, required=True)
    ap.add_argument("--endpoint", default=None, help="HOST:PORT (default: api.endpoint)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    try:
        config = load_config(args.config)
        store: Exporter | None = None
        for spec in resolve_exporters(config):
            exporter = spec.create(config.data_dir)
            if isinstance(exporter, LogStore):
                exporter.start()
                store = exporter
                break
    except TasklogsError as exc:
        print(f"live_tail: error: {exc}", file=sys.stderr)
        return 1
    if config.redis is None:
        _log.warning("no redis: configured: this API sees no live lines from other processes")
    app = create_app(
        store if isinstance(store, LogStore) else None,
        bus=make_bus(config),
        config=config.live_tail,
        auth=config.auth,
    )
    host, _, port = (args.endpoint or config.api.endpoint).rpartition(":")
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=int(port),
            log_level="info",
            lifespan="on",
            timeout_graceful_shutdown=10,
        )
    )
    try:
        asyncio.run(server.serve())
    finally:
        if store is not None:
            store.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
