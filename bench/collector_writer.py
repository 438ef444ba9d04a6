"""The writer alone: a pre-filled Redis ingest stream -> RedisWriters -> chDB, in process.

Fills a fresh ingest stream with --requests Export requests (512 ~200-byte lines each),
then starts the writers and times them until every record is written, splitting the
wall time into the column-wise decode, the exporter's push (clickhouse-connect + chDB
INSERT) and the rest (Redis reads, XACK, trimming: the pipeline's own overhead).

    .venv/bin/python -m bench.collector_writer [--requests 384] [--shards 1]

Prints and saves bench/results/collector_writer.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import redis

import collector_service.stream.consumer as worker_module
from bench.collector_e2e import request
from bench.common import RESULTS, save_json
from collector_service.component.decode import parse_request
from collector_service.component.exporter import resolve_exporters
from collector_service.component.model import LogBatch
from collector_service.pipeline.entry import IngestEntry
from collector_service.pipeline.shared_decode import SharedDecode
from collector_service.service.config import Config
from collector_service.stream.config import IngestConfig, RedisConfig
from collector_service.stream.consumer import RedisWriters
from collector_service.stream.entries import StreamEntry, decode_entries
from collector_service.stream.queue import RedisIngest

SPENT = {"decode": 0.0, "push": 0.0}
_decode = decode_entries


def _timed_decode(
    stream: str, entries: list[StreamEntry], shared: SharedDecode | None = None, sharers: int = 1
) -> tuple[LogBatch, list[StreamEntry]]:
    t0 = time.perf_counter()
    try:
        return _decode(stream, entries, shared, sharers)
    finally:
        SPENT["decode"] += time.perf_counter() - t0


async def run(args: argparse.Namespace, data_dir: Path) -> dict[str, Any]:
    prefix = f"benchw{uuid.uuid4().hex[:8]}"
    config = Config(
        data_dir=data_dir,
        exporters={"clickhouse": {"batch": {"send_batch_max_size": 65536, "timeout_ms": 1000}}},
        redis=RedisConfig(
            url=args.redis,
            key_prefix=prefix,
            ingest=IngestConfig(shards=args.shards, max_backlog_entries=100_000),
        ),
    )
    assert config.redis is not None
    ingest = RedisIngest(config.redis, ["clickhouse"])
    await ingest.start()
    total = args.requests * 512
    try:
        for t in range(args.requests):
            payload = request(t, 1, 512)
            await ingest.submit(
                IngestEntry(request=parse_request(payload), records=512, payload=payload)
            )
        worker_module.decode_entries = _timed_decode  # type: ignore[attr-defined]
        writers = RedisWriters(config, resolve_exporters(config))
        await writers.start()
        exporter = writers.handles[0].exporter
        push = exporter.push

        def timed_push(batch: LogBatch) -> None:
            t0 = time.perf_counter()
            push(batch)
            SPENT["push"] += time.perf_counter() - t0

        exporter.push = timed_push  # type: ignore[method-assign]
        t0 = time.perf_counter()
        while writers.handles[0].stats.sent_records < total:  # noqa: ASYNC110 - polling a counter
            await asyncio.sleep(0.005)
        wall = time.perf_counter() - t0
        await writers.stop(10)
    finally:
        await ingest.stop()
        client = redis.Redis.from_url(args.redis)
        for key in client.scan_iter(match=f"{{{prefix}:*"):
            client.delete(key)
        client.close()
    return {
        "records": total,
        "shards": args.shards,
        "writer_lines_per_s": round(total / wall),
        "wall_s": round(wall, 3),
        "decode_s": round(SPENT["decode"], 3),
        "push_s": round(SPENT["push"], 3),
        "pipeline_overhead_share": round(
            max(0.0, wall - SPENT["decode"] - SPENT["push"]) / wall, 3
        ),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=384)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(result, indent=2))
    save_json(RESULTS / "collector_writer.json", result)


if __name__ == "__main__":
    main()
