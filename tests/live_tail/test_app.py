"""The HTTP API over a real (chDB) store, through FastAPI's test client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from live_tail import create_app
from tasklogs_clickhouse import ClickHouseExporter
from tests.exporters.clickhouse.test_exporter import batch_for


@pytest.fixture
def client(store: ClickHouseExporter) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as c:
        yield c


def test_history_pages_follow_the_cursor(store: ClickHouseExporter, client: TestClient) -> None:
    store.push(batch_for("tr-api", 25))
    seqs: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        resp = client.get("/api/v1/tasks/tr-api/logs", params=params)
        assert resp.status_code == 200
        body = resp.json()
        assert body["task_run_id"] == "tr-api"
        seqs.extend(r["seq"] for r in body["records"])
        pages += 1
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seqs == list(range(1, 26))
    assert pages == 3


def test_bad_cursor_and_limit_are_400_and_422(client: TestClient) -> None:
    resp = client.get("/api/v1/tasks/x/logs", params={"cursor": "nonsense"})
    assert resp.status_code == 400
    assert "invalid cursor" in resp.json()["detail"]
    assert client.get("/api/v1/tasks/x/logs", params={"limit": 0}).status_code == 422


def test_unknown_task_is_a_404(client: TestClient) -> None:
    """Not an empty page: the same answer as another tenant's task (no probing)."""
    for path in ("/logs", "/logs/download", ""):
        resp = client.get(f"/api/v1/tasks/nobody{path}")
        assert resp.status_code == 404, path
        assert resp.json() == {"detail": "task run nobody not found"}


def test_without_a_store_history_is_503() -> None:
    with TestClient(create_app(None)) as c:
        assert c.get("/api/v1/tasks/x/logs").status_code == 503
        assert c.get("/healthz").json() == {"status": "ok"}


def test_readiness_follows_the_service() -> None:
    ready = False
    with TestClient(create_app(None, ready=lambda: ready)) as c:
        assert c.get("/readyz").status_code == 503
        ready = True
        assert c.get("/readyz").status_code == 200


def test_every_endpoint_is_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/tasks/{task_run_id}/logs", "/healthz", "/readyz"} <= set(paths)
