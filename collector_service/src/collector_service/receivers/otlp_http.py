"""OTLP/HTTP logs receiver: ``POST /v1/logs`` (specification "OTLP/HTTP").

Bodies are binary protobuf (``application/x-protobuf``) or OTLP/JSON
(``application/json``), optionally ``Content-Encoding: gzip``, ``zstd`` or ``deflate``.
Every answer is in the request's content type: the ``ExportLogsServiceResponse`` (with
``partial_success`` when records were rejected) on 200, a ``google.rpc.Status`` otherwise:

=====  ===================================================================  ===========
code   when                                                                 retryable
=====  ===================================================================  ===========
400    malformed body (protobuf, JSON, or compression)                      no
401    tenants are configured and no known bearer token was sent            no
413    body over ``max_request_body_size``, on the wire or decompressed     no
415    an unknown Content-Type or Content-Encoding                          no
429    the pipeline is full (``Retry-After`` in seconds)                    yes
503    the durable queue is unreachable (``Retry-After``)                   yes
=====  ===================================================================  ===========

The body is read in chunks and the read stops as soon as it passes the limit, and the
decompressors never produce more than the limit either.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl

import uvicorn
from google.protobuf.message import EncodeError, Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from collector_service.component.decode import parse_request
from collector_service.errors import (
    AuthError,
    BackpressureError,
    DecodeError,
    RequestTooLargeError,
    UnavailableError,
)
from collector_service.receivers.accept import Ingestor
from collector_service.receivers.codec import decompress, to_json
from collector_service.receivers.config import HttpConfig
from collector_service.receivers.otlp_json import parse_json_request
from collector_service.serving import QuietServer, bind

__all__ = ["LOGS_PATH", "OtlpHttpReceiver"]

_log = logging.getLogger(__name__)
_TRANSPORT = "http"
LOGS_PATH = "/v1/logs"
_PROTOBUF = "application/x-protobuf"
_JSON = "application/json"
_CODINGS = frozenset({"", "identity", "gzip", "zstd", "deflate"})
#: JSON bodies above this are parsed on a worker thread (~40 us per record in Python).
_JSON_INLINE_BYTES = 64 * 1024


def _reply(
    content_type: str, status: int, message: Message, headers: dict[str, str] | None = None
) -> Response:
    body = to_json(message) if content_type == _JSON else message.SerializeToString()
    return Response(body, status_code=status, media_type=content_type, headers=headers)


def _error(
    content_type: str,
    status: int,
    code: int,
    message: str,
    headers: dict[str, str] | None = None,
) -> Response:
    return _reply(content_type, status, status_pb2.Status(code=code, message=message), headers)


class OtlpHttpReceiver:
    """An ASGI app for ``POST /v1/logs`` served by uvicorn on its own socket."""

    def __init__(self, config: HttpConfig, ingestor: Ingestor) -> None:
        self._config = config
        self._ingestor = ingestor
        self._limit = config.max_request_body_size
        self._server: QuietServer | None = None
        self._task: asyncio.Task[None] | None = None
        self.bound_port: int | None = None
        self.app = self._build_app()

    def _build_app(self) -> Starlette:
        middleware = []
        cors = self._config.cors
        if cors.allowed_origins:
            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=list(cors.allowed_origins),
                    allow_methods=["POST"],
                    allow_headers=[
                        "Content-Type",
                        "Content-Encoding",
                        "Authorization",
                        *cors.allowed_headers,
                    ],
                    max_age=cors.max_age,
                )
            )
        routes = [Route(LOGS_PATH, self._logs, methods=["POST"])]
        return Starlette(routes=routes, middleware=middleware)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._limit:
            raise RequestTooLargeError(f"body is larger than {self._limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._limit:
                raise RequestTooLargeError(f"body is larger than {self._limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def _decode(
        self, request: Request, ctype: str, coding: str
    ) -> tuple[ExportLogsServiceRequest, bytes]:
        """The parsed request and its binary protobuf form (the payload handed on)."""
        try:
            body = decompress(await self._read_body(request), coding, self._limit)
        except ClientDisconnect:
            raise DecodeError("the client went away before the body was complete") from None
        if ctype == _PROTOBUF:
            return parse_request(body), body
        if len(body) <= _JSON_INLINE_BYTES:
            parsed = parse_json_request(body)
        else:  # pure Python work: a thread lets the event loop run in between
            parsed = await asyncio.to_thread(parse_json_request, body)
        try:
            return parsed, parsed.SerializeToString()
        except (EncodeError, RecursionError) as exc:  # a safety net: depth is bounded
            raise DecodeError(f"malformed ExportLogsServiceRequest: {exc}") from None

    async def _logs(self, request: Request) -> Response:
        with self._ingestor.timer(_TRANSPORT):
            return await self._handle(request)

    async def _handle(self, request: Request) -> Response:
        ingestor = self._ingestor
        ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        reply_type = _PROTOBUF if ctype == _PROTOBUF else _JSON
        try:
            tenant = ingestor.authenticate(_TRANSPORT, request.headers.get("authorization"))
        except AuthError as exc:
            return _error(
                reply_type,
                401,
                code_pb2.UNAUTHENTICATED,
                str(exc),
                {"WWW-Authenticate": 'Bearer realm="tasklogs"'},
            )
        coding = request.headers.get("content-encoding", "").strip().lower()
        if ctype not in (_PROTOBUF, _JSON) or coding not in _CODINGS:
            ingestor.refused(_TRANSPORT, "malformed")
            known_type = ctype in (_PROTOBUF, _JSON)
            what = f"Content-Encoding {coding!r}" if known_type else f"Content-Type {ctype!r}"
            return _error(
                reply_type,
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported {what}: send {_PROTOBUF} or {_JSON}, "
                "optionally with Content-Encoding gzip, zstd or deflate",
            )
        try:
            parsed, payload = await self._decode(request, ctype, coding)
        except RequestTooLargeError as exc:
            ingestor.refused(_TRANSPORT, "too_large")
            return _error(reply_type, 413, code_pb2.INVALID_ARGUMENT, str(exc))
        except DecodeError as exc:
            ingestor.refused(_TRANSPORT, "malformed")
            return _error(reply_type, 400, code_pb2.INVALID_ARGUMENT, str(exc))
        try:
            response = await ingestor.export(_TRANSPORT, parsed, payload, tenant)
        except BackpressureError as exc:
            unavailable = isinstance(exc, UnavailableError)
            return _error(
                reply_type,
                503 if unavailable else 429,
                code_pb2.UNAVAILABLE if unavailable else code_pb2.RESOURCE_EXHAUSTED,
                str(exc),
                {"Retry-After": str(max(1, math.ceil(exc.retry_after)))},
            )
        return _reply(reply_type, 200, response)

    async def start(self) -> None:
        sock = bind(self._config.endpoint, "OTLP/HTTP receiver")
        self.bound_port = int(sock.getsockname()[1])
        tls = self._config.tls
        server = QuietServer(
            uvicorn.Config(
                self.app,
                log_level="warning",
                lifespan="off",
                access_log=False,
                server_header=False,
                timeout_graceful_shutdown=5,
                ssl_certfile=str(tls.cert_file) if tls else None,
                ssl_keyfile=str(tls.key_file) if tls else None,
                ssl_ca_certs=str(tls.client_ca_file) if tls and tls.client_ca_file else None,
                ssl_cert_reqs=ssl.CERT_REQUIRED if tls and tls.client_ca_file else ssl.CERT_NONE,
            )
        )
        self._server = server
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="otlp-http")
        while not server.started:
            if self._task.done():
                await self._task
                raise OSError(f"OTLP/HTTP receiver on {self._config.endpoint} did not start")
            await asyncio.sleep(0.01)
        scheme = "https" if tls else "http"
        _log.info(
            "OTLP/HTTP receiver listening on %s://%s%s", scheme, self._config.endpoint, LOGS_PATH
        )

    async def stop(self, grace: float = 5.0) -> None:
        """Close the listener, let in-flight requests finish within ``grace`` seconds."""
        server, task = self._server, self._task
        self._server = self._task = None
        if server is None or task is None:
            return
        server.config.timeout_graceful_shutdown = max(1, math.ceil(grace))
        server.should_exit = True
        try:
            await asyncio.wait_for(task, timeout=grace + 2)
        except TimeoutError:
            _log.error("OTLP/HTTP receiver did not stop within %.1fs", grace)
