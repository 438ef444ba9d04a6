"""Task identity for records whose producer sent none: derived, never lost from view.

A record is read back by its task run id (``cicd.pipeline.task.run.id``) and its
pipeline run id. A stock OpenTelemetry producer sends neither, so the decoder fills in
what is missing from the resource, by one documented rule (README, "Records without a
task identity"):

- producer = ``<service.name or "unknown_service">@<service.instance.id or host.name or
  "default">``;
- task run id missing: the producer;
- pipeline run id missing: the task run id (a task run of its own);
- task name missing: ``service.name`` (or ``unknown_service``); pipeline name likewise;
- ``tasklogs.identity.derived`` lists the keys that were filled in (comma-separated), so
  a reader can tell a derived identity from a sent one.

The receiver warns once per producer (:class:`IdentityWarner`, a rate-limited log and a
counter), so an operator learns which producers lack an identity; with
``require_task_identity: true`` the receiver rejects those records instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from prometheus_client import Counter

from collector_service.metrics import REGISTRY
from otel_sdk_ext.semconv import (
    PIPELINE_NAME,
    PIPELINE_RUN_ID,
    SERVICE_NAME,
    TASK_NAME,
    TASK_RUN_ID,
)

__all__ = [
    "DERIVED",
    "RECEIVER_DERIVED_IDENTITY",
    "IdentityWarner",
    "fill_identity",
    "missing_identity",
    "producer_of",
]

#: Resource attribute naming the identity keys the decoder filled in.
DERIVED = "tasklogs.identity.derived"
_SERVICE_INSTANCE = "service.instance.id"
_HOST_NAME = "host.name"
_UNKNOWN_SERVICE = "unknown_service"
#: The keys a reader needs, in the order the rule fills them.
_IDENTITY_KEYS = (TASK_RUN_ID, PIPELINE_RUN_ID, TASK_NAME, PIPELINE_NAME)

RECEIVER_DERIVED_IDENTITY = Counter(
    "tasklogs_receiver_derived_identity_log_records",
    "Log records accepted without a task run id: stored under an identity derived from "
    "their resource (README, 'Records without a task identity').",
    ["receiver"],
    registry=REGISTRY,
)

_log = logging.getLogger("collector_service.identity")


def producer_of(attrs: dict[str, str]) -> str:
    """``<service.name>@<service.instance.id or host.name or "default">`` (no ``/``: the id
    goes into URL paths as one segment)."""
    service = attrs.get(SERVICE_NAME) or _UNKNOWN_SERVICE
    instance = attrs.get(_SERVICE_INSTANCE) or attrs.get(_HOST_NAME) or "default"
    return f"{service}@{instance}"


def missing_identity(attrs: dict[str, str]) -> list[str]:
    """The identity keys ``attrs`` lacks (or holds empty)."""
    return [k for k in _IDENTITY_KEYS if not attrs.get(k)]


def fill_identity(attrs: dict[str, str]) -> None:
    """Fill in the identity keys ``attrs`` lacks by the module's rule (in place).

    Called once per resource by the decoder; a resource that has every key is left
    untouched (four dict lookups).
    """
    if (
        attrs.get(TASK_RUN_ID)
        and attrs.get(PIPELINE_RUN_ID)
        and attrs.get(TASK_NAME)
        and attrs.get(PIPELINE_NAME)
    ):
        return
    missing = missing_identity(attrs)
    service = attrs.get(SERVICE_NAME) or _UNKNOWN_SERVICE
    if TASK_RUN_ID in missing:
        attrs[TASK_RUN_ID] = producer_of(attrs)
    if PIPELINE_RUN_ID in missing:
        attrs[PIPELINE_RUN_ID] = attrs[TASK_RUN_ID]
    if TASK_NAME in missing:
        attrs[TASK_NAME] = service
    if PIPELINE_NAME in missing:
        attrs[PIPELINE_NAME] = service
    attrs[DERIVED] = ",".join(missing)


def _string_attrs(kvs: Iterable[KeyValue], keys: frozenset[str]) -> dict[str, str]:
    return {kv.key: kv.value.string_value for kv in kvs if kv.key in keys}


_WANTED = frozenset({*_IDENTITY_KEYS, SERVICE_NAME, _SERVICE_INSTANCE, _HOST_NAME})


class IdentityWarner:
    """Warns once per producer that sends records without a task run id.

    A producer is warned about again after ``interval`` seconds if it still sends such
    records; at most ``max_producers`` are remembered (the oldest are forgotten first).
    Thread-safe; per resource it reads the resource attributes only.
    """

    def __init__(
        self,
        receiver_id: str,
        *,
        interval: float = 3600.0,
        max_producers: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.receiver_id = receiver_id
        self.interval = interval
        self.max_producers = max_producers
        self._clock = clock
        self._lock = threading.Lock()
        self._warned: OrderedDict[str, float] = OrderedDict()
        self._counter = RECEIVER_DERIVED_IDENTITY.labels(receiver_id)

    def note(self, attributes: Iterable[KeyValue], records: int) -> bool:
        """Count and (rate-limited) log a resource without a task run id; ``True`` if so."""
        attrs = _string_attrs(attributes, _WANTED)
        if attrs.get(TASK_RUN_ID):
            return False
        self._counter.inc(records)
        producer = producer_of(attrs)
        now = self._clock()
        with self._lock:
            last = self._warned.get(producer)
            if last is not None and now - last < self.interval:
                return True
            self._warned[producer] = now
            self._warned.move_to_end(producer)
            while len(self._warned) > self.max_producers:
                self._warned.popitem(last=False)
        missing = ", ".join(missing_identity(attrs))
        _log.warning(
            "receiver %s: producer %s sends log records without %s; they are stored as "
            "task run %r (set the cicd.pipeline.* resource attributes, or "
            "require_task_identity: true to reject them)",
            self.receiver_id,
            producer,
            missing,
            producer,
        )
        return True
