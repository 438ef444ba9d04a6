"""How the service wires the live tail: one bus per process, shared by publisher and API."""

from __future__ import annotations

from collector_service.component.exporter import ExporterSpec
from collector_service.pipeline.config import ExporterHelperConfig
from collector_service.service.config import Config
from live_tail.bus import LiveBus
from live_tail.exporter import LiveTailExporterConfig, bind_bus, factory
from live_tail.memory_bus import MemoryBus
from live_tail.redis_bus import RedisBus

__all__ = ["bind_publishers", "make_bus", "publisher_spec"]


def make_bus(config: Config) -> LiveBus:
    """Redis Streams when ``redis:`` is configured, else the in-process bus."""
    lt = config.live_tail
    if config.redis is not None:
        return RedisBus(
            config.redis.url,
            key_prefix=config.redis.key_prefix,
            cluster=config.redis.cluster,
            maxlen=lt.stream_maxlen,
            max_age_s=lt.stream_max_age_s,
        )
    return MemoryBus(lt.stream_maxlen, lt.stream_max_age_s, key_prefix="tasklogs")


def publisher_spec(config: Config, specs: list[ExporterSpec]) -> ExporterSpec | None:
    """The implicit ``live_tail`` publisher, unless disabled or configured explicitly."""
    if not config.live_tail.enabled or any(s.factory.type_name == "live_tail" for s in specs):
        return None
    helper = ExporterHelperConfig.model_validate(
        {"batch": {"timeout_ms": config.live_tail.publish_linger_ms}}
    )
    return ExporterSpec("live_tail", factory, LiveTailExporterConfig(), helper)


def bind_publishers(specs: list[ExporterSpec], bus: LiveBus) -> None:
    for spec in specs:
        if spec.factory.type_name == "live_tail":
            bind_bus(spec.component_id, bus)
