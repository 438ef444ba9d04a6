"""One accepted Export request, as it travels from a receiver to the exporters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from collector_service.component.model import LogBatch
from collector_service.pipeline.shared_decode import SharedDecode

__all__ = ["IngestEntry"]


@dataclass(slots=True)
class IngestEntry:
    """One accepted Export request, as it travels from a receiver to the exporters."""

    request: ExportLogsServiceRequest
    records: int
    #: The request as binary protobuf, as received (what a durable queue stores).
    payload: bytes = b""
    #: The tenant of the request's bearer token; stamped on every record when decoded.
    tenant: str | None = None
    #: Wall-clock arrival (for end-to-end lag); batching uses the monotonic one.
    received_ns: int = field(default_factory=time.time_ns)
    received_monotonic: float = field(default_factory=time.monotonic)
    #: How many in-process runners take this entry (set by :class:`Pipeline`); with more
    #: than one, :attr:`shared` decodes it once for all of them.
    consumers: int = 1
    shared: SharedDecode | None = None
    decoded: LogBatch | None = None
    taken: int = 0

    def raw(self) -> bytes:
        """The binary request (serialized again only if the receiver did not keep it)."""
        return self.payload or bytes(self.request.SerializeToString())
