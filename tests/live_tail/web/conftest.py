"""Fixtures of the web viewer's browser tests: one real `tasklogs serve` (chDB, in-process
bus, two tenants) and one headless Debian Chromium for the whole session; a fresh browser
context (its own sessionStorage) per test; real producers (`tasklogs run`).

Playwright never downloads a browser here: it drives ``/usr/bin/chromium``.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, sync_playwright

from tests.support import REPO, RunningService, serve_in, tasklogs_cmd

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ACME = "tok-acme"
UMBRELLA = "tok-umbrella"
ARTIFACTS = REPO / "tests" / "artifacts"


@dataclass
class Viewer:
    """The service the viewer is served by, and how to give it tasks."""

    svc: RunningService
    config: Path

    @property
    def url(self) -> str:
        return self.svc.api_url

    def env(self, token: str) -> dict[str, str]:
        return {**os.environ, "OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer%20{token}"}

    def argv(self, tid: str, run: str, name: str, script: str) -> list[str]:
        return tasklogs_cmd(
            "run", "--task-run-id", tid, "--pipeline-run-id", run, "--task-name", name,
            "--pipeline-name", "web-tests", "--endpoint", self.svc.grpc_endpoint,
            "--", "sh", "-c", script,
        )  # fmt: skip

    def run(
        self, script: str, *, token: str = ACME, run: str | None = None, name: str = "build"
    ) -> str:
        """A finished task (its lines stored); returns its task run id."""
        tid = f"tr-{uuid.uuid4().hex[:12]}"
        subprocess.run(
            self.argv(tid, run or f"run-{uuid.uuid4().hex[:8]}", name, script),
            env=self.env(token),
            check=False,
            timeout=120,
            capture_output=True,
        )
        return tid

    def wait_stored(self, tid: str, count: int, token: str = ACME, timeout: float = 30) -> None:
        """Until ``count`` lines of ``tid`` are stored (a task run not stored yet is a 404)."""
        deadline = time.monotonic() + timeout
        while True:
            resp = httpx.get(
                f"{self.url}/api/v1/tasks/{tid}/logs",
                params={"limit": 10_000},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            if resp.status_code == 200 and len(resp.json()["records"]) >= count:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"{tid}: {count} lines not stored in {timeout} s ({resp.text[:200]})")
            time.sleep(0.1)

    def live(
        self, *, token: str = ACME, run: str | None = None, name: str = "live", tid: str = ""
    ) -> LiveTask:
        """A running task that prints what the test writes to it (``end()`` ends it)."""
        tid = tid or f"tr-{uuid.uuid4().hex[:12]}"
        script = 'while IFS= read -r l; do [ "$l" = __END__ ] && exit 0; printf "%s\\n" "$l"; done'
        proc = subprocess.Popen(
            self.argv(tid, run or f"run-{uuid.uuid4().hex[:8]}", name, script),
            env=self.env(token),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return LiveTask(tid, proc)


@dataclass
class LiveTask:
    tid: str
    proc: subprocess.Popen[bytes]

    def write(self, *lines: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("".join(f"{ln}\n" for ln in lines).encode())
        self.proc.stdin.flush()

    def end(self) -> int:
        self.write("__END__")
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        return self.proc.wait(timeout=60)


# Package scope: torn down when the browser tests end. Playwright's sync API keeps an
# event loop marked running in the main thread while it is open, which would break every
# asyncio test that runs after it in the same session.
@pytest.fixture(scope="package")
def viewer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Viewer]:
    tmp = tmp_path_factory.mktemp("viewer")
    auth = f"""auth:
  tenants:
    acme: {{tokens: ["{ACME}"]}}
    umbrella: {{tokens: ["{UMBRELLA}"]}}
  signing_key: "{"s" * 32}"
"""
    served = serve_in(tmp, auth)
    svc = served.svc
    yield Viewer(svc, served.config)
    svc.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Browser, viewer: Viewer) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=viewer.url, viewport={"width": 1200, "height": 700})
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab signed in as tenant acme (the token in sessionStorage, as the form keeps it);
    fails the test on any script error or dialog (an injected script would open one)."""
    context.add_init_script(f"sessionStorage.setItem('tasklogs.token', {ACME!r})")
    pg = context.new_page()
    errors: list[str] = []

    def dialog(d: Dialog) -> None:
        errors.append(f"dialog: {d.message}")
        d.dismiss()

    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("dialog", dialog)
    yield pg
    assert not errors, errors


def shot(page: Page, name: str) -> None:
    """A screenshot of the page under tests/artifacts/ (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
