"""What every OTLP receiver does, whatever the transport: auth, identity check, hand-off.

The gRPC and HTTP receivers only translate between their wire and this module:

1. :meth:`Ingestor.authenticate` maps the bearer token to a tenant (or refuses);
2. the transport parses the body (protobuf or JSON) and bounds its size;
3. :meth:`Ingestor.export` drops the resources a rule rejects (``partial_success``),
   submits the rest to the pipeline and answers the ``ExportLogsServiceResponse``.

Every outcome is counted once here: accepted and refused log records (the Collector's
``otelcol_receiver_accepted/refused_log_records``) and refused requests by reason, so a
request whose records cannot be counted (malformed, too large, unauthenticated) shows up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import ResourceLogs
from prometheus_client import Counter, Histogram
from prometheus_client.context_managers import Timer

from collector_service.auth import Authenticator, bearer_token
from collector_service.component.decode import count_records
from collector_service.component.identity import IdentityWarner
from collector_service.errors import AuthError, BackpressureError, UnavailableError
from collector_service.metrics import RECEIVER_ACCEPTED, RECEIVER_REFUSED, REGISTRY
from collector_service.pipeline.entry import IngestEntry
from otel_sdk_ext.semconv import PIPELINE_RUN_ID, TASK_NAME, TASK_RUN_ID

__all__ = [
    "REASONS",
    "RECEIVER_REFUSED_REQUESTS",
    "Ingestor",
    "ReceiverSettings",
]

#: Why a receiver refused a request (the ``reason`` label).
REASONS = (
    "malformed",
    "too_large",
    "unauthenticated",
    "backpressure",
    "unavailable",
    "rejected",
)

RECEIVER_REFUSED_REQUESTS = Counter(
    "tasklogs_receiver_refused_requests",
    "Export requests a receiver refused in whole or in part, by reason.",
    ["receiver", "transport", "reason"],
    registry=REGISTRY,
)
RECEIVER_EXPORT_DURATION = Histogram(
    "tasklogs_receiver_export_duration_seconds",
    "Seconds from an Export's arrival at the handler to its answer, whatever the answer "
    "(with Redis configured this includes the durable hand-off).",
    ["receiver", "transport"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)

_EMPTY = ExportLogsServiceResponse()


class Submitter(Protocol):
    """The receiver->pipeline seam (:meth:`collector_service.pipeline.Pipeline.submit`).

    Returns once the entry is as safe as the pipeline makes it; raises
    :class:`BackpressureError` (or its :class:`UnavailableError`) to refuse it whole.
    """

    async def submit(self, entry: IngestEntry) -> None: ...


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """What the transport-independent part needs to know of the receiver config."""

    receiver_id: str = "otlp"
    require_task_identity: bool = False
    #: Export requests of one tenant in flight at once (0: no limit).
    max_requests_per_tenant: int = 0


def _has_task_identity(rl: ResourceLogs) -> bool:
    for kv in rl.resource.attributes:
        if kv.key == TASK_RUN_ID:
            return bool(kv.value.string_value)
    return False


class Ingestor:
    """The shared half of a receiver: one per receiver id, used by both transports."""

    def __init__(
        self,
        settings: ReceiverSettings,
        pipeline: Submitter,
        authenticator: Authenticator | None = None,
    ) -> None:
        self._settings = settings
        self._pipeline = pipeline
        self._auth = authenticator
        self._identity = IdentityWarner(settings.receiver_id)
        #: Export requests in flight per tenant ("" for anonymous senders).
        self._inflight: dict[str, int] = {}

    @property
    def receiver_id(self) -> str:
        return self._settings.receiver_id

    def timer(self, transport: str) -> Timer:
        """A context manager that observes one Export's duration."""
        return RECEIVER_EXPORT_DURATION.labels(self.receiver_id, transport).time()

    def refused(self, transport: str, reason: str, records: int = 0) -> None:
        """Count a refusal: the request always, its records when they are known."""
        RECEIVER_REFUSED_REQUESTS.labels(self.receiver_id, transport, reason).inc()
        if records:
            RECEIVER_REFUSED.labels(self.receiver_id, transport, reason).inc(records)

    def authenticate(self, transport: str, authorization: str | None) -> str | None:
        """The tenant of an ``Authorization`` value; ``None`` when auth is off.

        Raises :class:`AuthError` (counted) when tenants are configured and the token is
        missing or unknown.
        """
        if self._auth is None or not self._auth.enabled:
            return None
        token = bearer_token(authorization)
        tenant = self._auth.tenant_for(token)
        if tenant is None:
            self.refused(transport, "unauthenticated")
            raise AuthError("missing bearer token" if token is None else "unknown bearer token")
        return tenant

    def _apply_rules(
        self, request: ExportLogsServiceRequest, payload: bytes
    ) -> tuple[ExportLogsServiceRequest, bytes, int, str]:
        """Drop resources the rules reject; returns (request, payload, rejected, message).

        Without ``require_task_identity``, a resource without a task run id is kept (the
        decoder derives its identity) and its producer is warned about, once.
        """
        if not self._settings.require_task_identity:
            for rl in request.resource_logs:
                if not _has_task_identity(rl):
                    self._identity.note(
                        rl.resource.attributes, sum(len(sl.log_records) for sl in rl.scope_logs)
                    )
            return request, payload, 0, ""
        keep: list[ResourceLogs] = []
        rejected = 0
        for rl in request.resource_logs:
            if _has_task_identity(rl):
                keep.append(rl)
            else:
                rejected += sum(len(sl.log_records) for sl in rl.scope_logs)
        if len(keep) == len(request.resource_logs):
            return request, payload, 0, ""
        kept = ExportLogsServiceRequest()
        kept.resource_logs.extend(keep)
        message = (
            f"{rejected} log records rejected: their resource has no {TASK_RUN_ID} "
            "resource attribute (the task run they belong to; set it, with "
            f"{PIPELINE_RUN_ID} and {TASK_NAME}, on the producer's resource), and "
            "receivers.otlp.require_task_identity is on"
        )
        return kept, kept.SerializeToString(), rejected, message

    async def export(
        self,
        transport: str,
        request: ExportLogsServiceRequest,
        payload: bytes,
        tenant: str | None,
    ) -> ExportLogsServiceResponse:
        """Hand the acceptable part of ``request`` to the pipeline; the OTLP response.

        ``payload`` is ``request`` as binary protobuf (the bytes received, for gRPC and
        OTLP/HTTP protobuf). Raises :class:`BackpressureError` / :class:`UnavailableError`
        (counted) when the pipeline cannot take it: nothing of it was accepted then.
        """
        request, payload, rejected, message = self._apply_rules(request, payload)
        records = count_records(request)
        if records:
            key = tenant or ""
            limit = self._settings.max_requests_per_tenant
            held = self._inflight.get(key, 0)
            if limit and held >= limit:
                self.refused(transport, "backpressure", records + rejected)
                who = f"tenant {tenant!r}" if tenant else "anonymous senders"
                raise BackpressureError(
                    f"{who} already have {limit} Export requests in flight, the limit; retry later",
                    retry_after=1.0,
                )
            self._inflight[key] = held + 1
            try:
                await self._pipeline.submit(
                    IngestEntry(request=request, records=records, payload=payload, tenant=tenant)
                )
            except UnavailableError:
                self.refused(transport, "unavailable", records + rejected)
                raise
            except BackpressureError:
                self.refused(transport, "backpressure", records + rejected)
                raise
            finally:
                left = self._inflight[key] - 1
                if left:
                    self._inflight[key] = left
                else:
                    del self._inflight[key]
            RECEIVER_ACCEPTED.labels(self.receiver_id, transport).inc(records)
        if not rejected:
            return _EMPTY
        self.refused(transport, "rejected", rejected)
        return ExportLogsServiceResponse(
            partial_success=ExportLogsPartialSuccess(
                rejected_log_records=rejected, error_message=message
            )
        )
