"""``tasklogs worker --metrics-endpoint``: Prometheus metrics on a thread of their own,
behind a tenant's bearer token when ``auth.protect_metrics`` is on (as the API's
``/metrics``)."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from collector_service.auth import Authenticator, bearer_token

__all__ = ["serve_metrics"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""


def serve_metrics(
    endpoint: str, registry: CollectorRegistry, authn: Authenticator, *, protect: bool
) -> None:
    """Serve ``registry`` on ``endpoint`` (``[HOST]:PORT``, host default 127.0.0.1)."""
    metrics = make_wsgi_app(registry)
    guarded = protect and authn.enabled

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if guarded and authn.tenant_for(bearer_token(environ.get("HTTP_AUTHORIZATION"))) is None:
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", 'Bearer realm="tasklogs"')],
            )
            return [b"missing or unknown bearer token\n"]
        result: Iterable[bytes] = metrics(environ, start_response)
        return result

    addr, _, port = endpoint.rpartition(":")
    httpd = make_server(
        addr or "127.0.0.1", int(port), app, ThreadingWSGIServer, handler_class=_QuietHandler
    )
    threading.Thread(target=httpd.serve_forever, name="metrics", daemon=True).start()
