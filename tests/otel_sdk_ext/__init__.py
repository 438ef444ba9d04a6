"""Tests of the producer side, otel_sdk_ext."""
