"""Hostile-input tests: a real `tasklogs serve` with two tenants, and hypothesis profiles.

Profiles (``HYPOTHESIS_PROFILE=slow`` for long runs, also selected by ``-m slow``):

- ``default``: few examples per property, so the default CI run stays short;
- ``slow``: many more, for a fuzzing session.

Both have ``deadline=None``: most properties do real I/O, whose timing is not the point.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support import RunningService, serve_in

settings.register_profile(
    "default",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile(
    "slow",
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TOKEN_A = "tenant-a-secret-token"
TOKEN_B = "tenant-b-secret-token"


@dataclass
class Hostile:
    """A running service with tenants ``a`` and ``b`` on gRPC, OTLP/HTTP and the API."""

    svc: RunningService
    grpc_target: str
    http_url: str

    @property
    def api_url(self) -> str:
        return self.svc.api_url

    def headers(self, token: str = TOKEN_A) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


def start_hostile(tmp: Path, extra: str = "") -> Hostile:
    auth = f"""auth:
  tenants:
    a: {{tokens: ["{TOKEN_A}"]}}
    b: {{tokens: ["{TOKEN_B}"]}}
{extra}
"""
    s = serve_in(
        tmp,
        auth,
        grpc="max_recv_msg_size_mib: 16",
        http="max_request_body_size: 16777216",
        exporter="batch: {timeout_ms: 50}, ttl: none",
    )
    return Hostile(s.svc, f"127.0.0.1:{s.grpc_port}", f"http://127.0.0.1:{s.http_port}/v1/logs")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hostile]:
    """One service per test module (starting one costs seconds)."""
    h = start_hostile(tmp_path_factory.mktemp("hostile"))
    yield h
    h.svc.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``-m slow`` selects the slow profile too."""
    if "slow" in (config.getoption("-m") or "") and "not slow" not in config.getoption("-m"):
        settings.load_profile("slow")
