"""The one shared exporter wrapper: worker thread, timeout, retry with backoff, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from collector_service import metrics
from collector_service.component.exporter import Exporter
from collector_service.component.model import LogBatch
from collector_service.errors import PermanentExportError, RetryableExportError
from collector_service.pipeline.config import ExporterHelperConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from collector_service.pipeline.deadletter import DeadLetter

__all__ = ["ExporterHandle", "Outcome", "RunnerStats"]

_log = logging.getLogger(__name__)


_T = TypeVar("_T")


@dataclass(slots=True)
class RunnerStats:
    sent_records: int = 0
    failed_records: int = 0
    dead_lettered: int = 0
    dropped_on_shutdown: int = 0
    retries: int = 0
    #: Records a best-effort runner skipped (its queue was full; nobody was refused).
    skipped_records: int = 0


class Outcome(enum.Enum):
    """How a push through :meth:`ExporterHandle.push` ended."""

    SENT = "sent"
    #: Not written and never will be (permanent error, or retries exhausted).
    FAILED = "failed"
    #: Not written because the caller is stopping (its batch stays in the durable queue).
    ABANDONED = "abandoned"


class ExporterHandle:
    """One exporter behind the shared timeout/retry wrapper, on its own worker thread."""

    def __init__(
        self,
        component_id: str,
        exporter: Exporter,
        helper: ExporterHelperConfig,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self.component_id = component_id
        self.exporter = exporter
        self.helper = helper
        self.dead_letter = dead_letter
        self.stats = RunnerStats()
        #: Why the last failed push failed (kept with dead letters).
        self.last_error = ""
        #: Set while the destination refuses writes (a push failed with a non-permanent
        #: error and no push has succeeded since): the service is then not ready.
        self.failing: str | None = None
        #: Set while the exporter's own probe (``probe()``, optional) says it cannot take
        #: writes, even with nothing to write (a store that is down, a full disk).
        self.probe_failing: str | None = None
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"exporter-{component_id}"
        )

    async def call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the exporter's thread (decoding too, so the loop stays free)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self) -> None:
        await self.call(self.exporter.start)

    async def push(self, batch: LogBatch, *, stop: asyncio.Event | None = None) -> Outcome:
        """Write ``batch``: timeout per attempt, jittered backoff, bounded total time.

        Never raises for exporter errors: a batch that cannot be written is counted as
        failed and the caller dead-letters it. A :class:`RetryableExportError` (the
        environment: disk full, read-only, store unreachable) never runs out of retries:
        it is retried until it succeeds while the service is not ready and receivers
        refuse upstream; ``max_elapsed_time_s`` bounds only errors of unknown kind. When
        ``stop`` is set while waiting to retry, the push is abandoned (the durable queue
        keeps the batch for a successor).
        """
        retry = self.helper.retry_on_failure
        labels = metrics.EXPORTER_SENT.labels(self.component_id)
        count = len(batch)
        started = time.monotonic()
        delay = retry.initial_interval_ms / 1000
        metrics.BATCH_SEND_SIZE.labels(self.component_id).observe(count)
        while True:
            try:
                await asyncio.wait_for(
                    self.call(lambda: self.exporter.push(batch)), self.helper.timeout
                )
            except PermanentExportError as exc:
                self.last_error = f"permanent error: {exc}"
                _log.error(
                    "exporter %s: permanent failure for %d records: %s",
                    self.component_id,
                    count,
                    exc,
                )
                return self._failed(count)
            except Exception as exc:  # noqa: BLE001 - unknown errors are retried, then counted
                self.failing = f"exporter {self.component_id} cannot write: {_describe(exc)}"
                elapsed = time.monotonic() - started
                transient = isinstance(exc, RetryableExportError | TimeoutError)
                if not retry.enabled or (
                    not transient and elapsed + delay > retry.max_elapsed_time_s
                ):
                    self.last_error = f"retries exhausted after {elapsed:.1f}s: {exc!r}"
                    _log.error(
                        "exporter %s: giving up after %.1fs on %d records: %r",
                        self.component_id,
                        elapsed,
                        count,
                        exc,
                    )
                    return self._failed(count)
                self.stats.retries += 1
                metrics.EXPORTER_RETRIES.labels(self.component_id).inc()
                _log.warning(
                    "exporter %s: push failed (%r); retrying in %.2fs",
                    self.component_id,
                    exc,
                    delay,
                )
                await _sleep(delay * random.uniform(0.5, 1.5), stop)  # noqa: S311 - jitter
                if stop is not None and stop.is_set():
                    return Outcome.ABANDONED
                delay = min(delay * 2, retry.max_interval_ms / 1000)
            else:
                self.failing = None
                self.stats.sent_records += count
                labels.inc(count)
                return Outcome.SENT

    def _failed(self, count: int) -> Outcome:
        self.stats.failed_records += count
        metrics.EXPORTER_SEND_FAILED.labels(self.component_id).inc(count)
        return Outcome.FAILED

    async def keep(self, payloads: list[tuple[bytes, str | None, int]], reason: str) -> None:
        """Dead-letter raw requests ``(payload, tenant, records)`` that could not be written."""
        records = sum(n for _, _, n in payloads)
        if self.dead_letter is None:
            _log.error(
                "exporter %s: %d records dropped (no dead-letter store): %s",
                self.component_id,
                records,
                reason,
            )
            return
        await self.dead_letter.put(self.component_id, payloads, reason)
        self.stats.dead_lettered += records
        metrics.EXPORTER_DEAD_LETTERED.labels(self.component_id).inc(records)

    async def watch(self, interval: float, stop: asyncio.Event) -> None:
        """Until ``stop``: every ``interval`` s ask the exporter's ``probe()`` (when it has
        one) whether it can take writes; :attr:`probe_failing` holds the answer."""
        probe: Callable[[], str | None] | None = getattr(self.exporter, "probe", None)
        if probe is None:
            await stop.wait()
            return
        while not stop.is_set():
            try:
                problem = await asyncio.wait_for(self.call(probe), self.helper.timeout)
            except Exception as exc:  # noqa: BLE001 - a failed probe is an answer too
                problem = f"exporter {self.component_id}: probe failed: {_describe(exc)}"
            if problem is not None and self.probe_failing is None:
                _log.warning("exporter %s cannot take writes: %s", self.component_id, problem)
            self.probe_failing = problem
            await _sleep(interval, stop)

    @property
    def not_ready(self) -> str | None:
        """Why this exporter cannot write now (a failing push, or its probe); or None."""
        return self.failing or self.probe_failing

    async def stop(self) -> None:
        try:
            await self.call(self.exporter.shutdown)
        except Exception:  # noqa: BLE001 - shutdown continues with the next exporter
            _log.exception("exporter %s: shutdown failed", self.component_id)
        self._executor.shutdown(wait=False, cancel_futures=True)


def _describe(exc: BaseException) -> str:
    """An error as one line for ``/readyz``: the message, not the repr."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 300 else text[:297] + "..."


async def _sleep(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
