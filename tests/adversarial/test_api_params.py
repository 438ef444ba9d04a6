"""Fuzzing the read API's parameters: task ids, cursors, filters, limits, resume ids.

Whatever a client sends, the answer is a 2xx or a clear 4xx (400, 401, 404, 422, 429),
never a 5xx; streams are opened and closed at once (only their status is the point).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.adversarial.conftest import Hostile

_OK = {200, 400, 401, 404, 422, 429}

texts = st.text(max_size=60) | st.sampled_from(
    ["", "..", "../", "%2F", "\x00", "' OR 1=1 --", "(a+)+$", "(?=x)", "\\", "9" * 30, "-1"]
)
params = st.fixed_dictionaries(
    {},
    optional={
        "cursor": texts,
        "limit": st.integers(-5, 200_000).map(str) | texts,
        "min_severity": texts,
        "include": texts,
        "exclude": texts,
        "text": texts,
        "attr": st.lists(texts, max_size=3),
        "task_name": texts,
        "format": st.sampled_from(["text", "ndjson", "csv", "xml", ""]),
        "after_seq": st.integers(-1, 2**70).map(str) | texts,
        "access_token": texts,
    },
)
task_ids = st.text(min_size=1, max_size=80) | st.sampled_from(["..", "a/b", "x" * 3000, " "])


def _strip_nul(p: dict[str, Any]) -> dict[str, Any]:
    """httpx refuses NUL in a query string; send it percent-encoded instead."""
    return {
        k: [x.replace("\x00", "%00") for x in v]
        if isinstance(v, list)
        else v.replace("\x00", "%00")
        for k, v in p.items()
    }


@pytest.fixture(scope="module")
def client(hostile: Hostile) -> Any:
    with httpx.Client(base_url=hostile.api_url, headers=hostile.headers(), timeout=30) as c:
        yield c


@given(task_ids, params, st.sampled_from(["logs", "logs/download", "logs/stream"]))
def test_task_endpoints_never_answer_5xx(
    client: httpx.Client, tid: str, query: dict[str, Any], path: str
) -> None:
    url = f"/api/v1/tasks/{quote(tid, safe='')}/{path}"
    with client.stream("GET", url, params=_strip_nul(query)) as r:
        assert r.status_code in _OK, (r.status_code, r.read()[:300])


@given(task_ids, params, st.one_of(st.none(), texts))
def test_run_stream_never_answers_5xx(
    client: httpx.Client, rid: str, query: dict[str, Any], last_event_id: str | None
) -> None:
    headers = {}
    if last_event_id is not None and last_event_id.isprintable() and last_event_id.isascii():
        headers["Last-Event-ID"] = last_event_id
    url = f"/api/v1/runs/{quote(rid, safe='')}/logs/stream"
    with client.stream("GET", url, params=_strip_nul(query), headers=headers) as r:
        assert r.status_code in _OK, (r.status_code, r.read()[:300])


@given(st.text(min_size=1, max_size=200))
def test_any_token_is_401_or_accepted(hostile: Hostile, token: str) -> None:
    # What an HTTP client can put in a header: printable ASCII, no surrounding spaces.
    token = token.encode("unicode_escape").decode("ascii").strip() or "x"
    r = httpx.get(
        f"{hostile.api_url}/api/v1/tasks/t/logs",
        headers={"Authorization": f"Bearer {token}"},
        params={"access_token": token},
        timeout=30,
    )
    assert r.status_code in (200, 401), r.text
