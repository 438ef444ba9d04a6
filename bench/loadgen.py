"""The one load generator: N simulated task processes x R lines/s over real OTLP (gRPC or
HTTP/protobuf), ~200-byte lines with a few attributes and the task identity, each task
exporting as an OTel SDK does (a batch every schedule delay, one Export in flight,
refusals retried). Import it from bench.common.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import multiprocessing
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
_WORDS = ("request", "handled", "cache", "miss", "retry", "upstream", "connect", "timeout")


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * q))]


@dataclass(frozen=True)
class LoadSpec:
    """N simulated task processes, each logging R lines/s, exported as an OTel SDK does:
    one Export in flight per task, a batch every ``delay_s`` (or at ``max_batch`` lines)."""

    target: str  # "127.0.0.1:PORT" for gRPC, "http://127.0.0.1:PORT/v1/logs" for HTTP
    transport: str  # "grpc" or "http"
    tasks: int
    lines_per_task_s: float
    seconds: float
    delay_s: float = 0.05
    max_batch: int = 512
    token: str = ""
    first_task: int = 0
    start_at: float = 0.0  # time.time() at which every load process starts sending

    @property
    def lines_per_export(self) -> int:
        return max(1, min(self.max_batch, round(self.lines_per_task_s * self.delay_s)))

    @property
    def offered(self) -> float:
        return self.tasks * self.lines_per_task_s


@dataclass
class LoadResult:
    offered_lines_per_s: float
    acked_lines: int = 0
    exports: int = 0
    refusals: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)

    def merge(self, other: LoadResult) -> None:
        self.acked_lines += other.acked_lines
        self.exports += other.exports
        self.refusals += other.refusals
        self.errors += other.errors
        self.elapsed_s = max(self.elapsed_s, other.elapsed_s)
        self.latencies_ms += other.latencies_ms

    def summary(self) -> dict[str, float]:
        lat = sorted(self.latencies_ms)
        return {
            "offered_lines_per_s": round(self.offered_lines_per_s),
            "acked_lines": self.acked_lines,
            "acked_lines_per_s": round(self.acked_lines / self.elapsed_s) if self.elapsed_s else 0,
            "exports": self.exports,
            "refusals_retried": self.refusals,
            "errors": self.errors,
            **{f"p{q}_ms": round(percentile(lat, q / 100), 2) for q in (50, 90, 99)},
            "max_ms": round(lat[-1], 2) if lat else float("nan"),
        }


def body_line(rng: random.Random, seq: int, ts: int) -> str:
    """A ~200-byte line with the entropy of a real one: a stamp, ids, numbers, words."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 10**9))
    return (
        f"{stamp}.{ts % 10**9 // 10**6:03d}Z INFO worker-{rng.randrange(16)} "
        f"{' '.join(rng.choices(_WORDS, k=4))}: item={seq} key={rng.getrandbits(64):016x} "
        f"elapsed_ms={rng.randrange(5000)} path=/api/v1/items/{rng.randrange(10**6)}"
    ).ljust(200, ".")


def export_request(task: int, first_seq: int, lines: int, seed: int = 0) -> bytes:
    """One task's Export: its identity as resource attributes, ``lines`` ~200-byte lines
    with ``tasklogs.seq``, the stream and the thread."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
    from opentelemetry.proto.logs.v1.logs_pb2 import (
        LogRecord,
        ResourceLogs,
        ScopeLogs,
        SeverityNumber,
    )
    from opentelemetry.proto.resource.v1.resource_pb2 import Resource

    def kv(key: str, value: str | int) -> KeyValue:
        if isinstance(value, int):
            return KeyValue(key=key, value=AnyValue(int_value=value))
        return KeyValue(key=key, value=AnyValue(string_value=value))

    rng = random.Random(task * 1_000_003 + first_seq + seed)
    resource = Resource(
        attributes=[
            kv("service.name", "bench"),
            kv("cicd.pipeline.name", "nightly"),
            kv("cicd.pipeline.run.id", f"run-{task // 10}"),
            kv("cicd.pipeline.task.name", f"step-{task % 10}"),
            kv("cicd.pipeline.task.run.id", f"task-{task:05d}"),
        ]
    )
    now = time.time_ns()
    records = [
        LogRecord(
            time_unix_nano=now + i,
            observed_time_unix_nano=now + i,
            severity_number=SeverityNumber.SEVERITY_NUMBER_INFO,
            severity_text="INFO",
            body=AnyValue(string_value=body_line(rng, first_seq + i, now + i)),
            attributes=[
                kv("tasklogs.seq", first_seq + i),
                kv("log.iostream", "stdout"),
                kv("thread.name", "MainThread"),
            ],
        )
        for i in range(lines)
    ]
    scope = ScopeLogs(scope=InstrumentationScope(name="tasklogs.stdout"), log_records=records)
    req = ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[scope])]
    )
    return bytes(req.SerializeToString())


@functools.cache
def task_payloads(task: int, lines: int, variants: int = 8) -> tuple[bytes, ...]:
    return tuple(export_request(task, v * lines + 1, lines) for v in range(variants))


async def _http_export(
    streams: tuple[asyncio.StreamReader, asyncio.StreamWriter], head: bytes, body: bytes
) -> int:
    """One OTLP/HTTP POST on a kept-alive connection; returns the status code."""
    reader, writer = streams
    writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
    status = int((await reader.readline()).split()[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value:
            chunked = True
    if chunked:
        while size := int((await reader.readline()).strip() or b"0", 16):
            await reader.readexactly(size + 2)
        await reader.readline()
    elif length:
        await reader.readexactly(length)
    return status


class _Exporter:
    """One load process's OTLP client: a gRPC channel, or one HTTP/1.1 connection per task."""

    def __init__(self, spec: LoadSpec) -> None:
        import grpc

        self.spec = spec
        self.md = (("authorization", f"Bearer {spec.token}"),) if spec.token else None
        self.channel = grpc.aio.insecure_channel(spec.target) if spec.transport == "grpc" else None
        self.call = self.channel.unary_unary(EXPORT_METHOD) if self.channel else None
        self.hostport, _, path = spec.target.removeprefix("http://").partition("/")
        auth = f"Authorization: Bearer {spec.token}\r\n" if spec.token else ""
        self.head = (
            f"POST /{path} HTTP/1.1\r\nHost: {self.hostport}\r\n{auth}"
            "Content-Type: application/x-protobuf\r\nContent-Length: "
        ).encode()

    async def ready(self) -> None:
        if self.channel is not None:
            await asyncio.wait_for(self.channel.channel_ready(), 30)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        if self.call is not None:
            return None
        host, port = self.hostport.rsplit(":", 1)
        return await asyncio.open_connection(host, int(port))

    async def export(
        self, body: bytes, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None
    ) -> bool:
        """True when acknowledged, False when refused with a retryable answer."""
        import grpc

        if self.call is not None:
            try:
                await self.call(body, metadata=self.md, timeout=30)
            except grpc.aio.AioRpcError as exc:
                if exc.code() in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE):
                    return False
                raise
            return True
        assert conn is not None
        status = await _http_export(conn, self.head, body)
        if status in (429, 503):
            return False
        if status != 200:
            raise RuntimeError(f"HTTP {status}")
        return True

    async def close(self) -> None:
        if self.channel is not None:
            await self.channel.close()


async def _one_task(  # noqa: PLR0917
    task: int,
    client: _Exporter,
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None,
    result: LoadResult,
    start: float,
    end: float,
) -> None:
    """A task process's exporter: a batch every interval, one Export in flight, retries."""
    import grpc

    k = client.spec.lines_per_export
    interval = k / client.spec.lines_per_task_s
    payloads = task_payloads(task, k)
    next_at = start + random.random() * interval
    try:
        i = 0
        while (now := time.perf_counter()) < end:
            if now < next_at:
                await asyncio.sleep(next_at - now)
            next_at += interval
            body = payloads[i % len(payloads)]
            i += 1
            t0 = time.perf_counter()
            while not await client.export(body, conn):
                result.refusals += 1
                await asyncio.sleep(0.05)
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            result.acked_lines += k
            result.exports += 1
    except (RuntimeError, OSError, ValueError, grpc.aio.AioRpcError):
        result.errors += 1
    finally:
        if conn is not None:
            conn[1].close()


async def _run_tasks(spec: LoadSpec) -> LoadResult:
    result = LoadResult(spec.offered)
    client = _Exporter(spec)
    tasks = range(spec.first_task, spec.first_task + spec.tasks)
    # Built and connected before the clock starts: no Export waits for either.
    for t in tasks:
        task_payloads(t, spec.lines_per_export)
    await client.ready()
    conns = await asyncio.gather(*(client.connect() for _ in tasks))
    await asyncio.sleep(max(0.0, spec.start_at - time.time()))
    start = time.perf_counter()
    end = start + spec.seconds
    await asyncio.gather(
        *(_one_task(t, client, c, result, start, end) for t, c in zip(tasks, conns, strict=True))
    )
    result.elapsed_s = time.perf_counter() - start
    await client.close()
    return result


def run_load_here(spec: LoadSpec) -> LoadResult:
    """One load process's share (runs in a pool process)."""
    return asyncio.run(_run_tasks(spec))


class LoadGenerator:
    """``procs`` processes (spawned once) that share the simulated tasks between them."""

    def __init__(self, procs: int = 1) -> None:
        self.procs = procs
        self.started_at = 0.0  # time.time() at which the last run started sending
        ctx = multiprocessing.get_context("spawn")
        self._pool = concurrent.futures.ProcessPoolExecutor(procs, mp_context=ctx)

    def warm(self, spec: LoadSpec) -> None:
        """Build the payloads in every load process before the clock starts."""
        list(self._pool.map(_warm, self._shares(spec)))

    def _shares(self, spec: LoadSpec) -> list[LoadSpec]:
        per, extra = divmod(spec.tasks, self.procs)
        shares, first = [], 0
        for p in range(self.procs):
            n = per + (1 if p < extra else 0)
            if n:
                shares.append(_replace(spec, tasks=n, first_task=first))
            first += n
        return shares

    def run(self, spec: LoadSpec) -> LoadResult:
        self.started_at = time.time() + 0.5
        spec = _replace(spec, start_at=self.started_at)
        total = LoadResult(spec.offered)
        for part in self._pool.map(run_load_here, self._shares(spec)):
            total.merge(part)
        return total

    def close(self) -> None:
        self._pool.shutdown()


def _replace(spec: LoadSpec, **changes: Any) -> LoadSpec:
    return LoadSpec(**{**asdict(spec), **changes})


def _warm(spec: LoadSpec) -> int:
    tasks = range(spec.first_task, spec.first_task + spec.tasks)
    return sum(len(task_payloads(t, spec.lines_per_export)) for t in tasks)
