"""OTLP receivers: each transport parses its wire format and hands the request to the
shared :class:`~collector_service.receivers.accept.Ingestor` (auth, rules, pipeline)."""

from __future__ import annotations

from collector_service.receivers.accept import Ingestor, ReceiverSettings
from collector_service.receivers.otlp_grpc import OtlpGrpcReceiver
from collector_service.receivers.otlp_http import OtlpHttpReceiver

__all__ = ["Ingestor", "OtlpGrpcReceiver", "OtlpHttpReceiver", "ReceiverSettings"]
