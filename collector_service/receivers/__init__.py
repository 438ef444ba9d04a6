"""OTLP receivers: each hands parsed requests to the pipeline."""

from __future__ import annotations

from collector_service.receivers.otlp_grpc import OtlpGrpcReceiver

__all__ = ["OtlpGrpcReceiver"]
