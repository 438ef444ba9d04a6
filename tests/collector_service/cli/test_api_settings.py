"""Where the CLI finds the API and its token (flags, environment, the config file), and
the one clear line it prints when the service is unreachable or refuses the token."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector_service.cli.support import cli, serve
from tests.support import RunningService, free_port, tasklogs

AUTH = (
    'auth: {tenants: {acme: {tokens: ["tok-acme"]}, other: {tokens: ["tok-other"]}}, '
    'signing_key: "k"}\n'
)


@pytest.fixture(scope="module")
def auth_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    svc, _ = serve(tmp_path_factory.mktemp("auth"), AUTH)
    yield svc
    svc.stop()


def _one_line_error(proc: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("tasklogs: error: ")
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("logs", "some-task"),
        ("logs", "some-task", "-f"),
        ("logs", "--run", "some-run", "-f", "--until-done"),
        ("logs", "some-task", "--export", "x.log"),
        ("runs",),
        ("tasks", "some-run"),
    ],
)
def test_an_unreachable_service_is_one_clear_line(args: tuple[str, ...]) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    proc = cli(None, *args, "--api-url", dead)
    _one_line_error(proc, 69, f"cannot reach the tasklogs API at {dead}", "connection refused")


def test_a_refused_or_missing_token_is_one_clear_line(auth_service: RunningService) -> None:
    for args in (("logs", "t"), ("logs", "t", "-f"), ("runs",), ("tasks", "r")):
        _one_line_error(cli(auth_service, *args, "--token", "wrong"), 77, "refused the token")
        _one_line_error(cli(auth_service, *args), 77, "wants a token", "TASKLOGS_TOKEN")


def test_token_and_url_from_flags_env_or_the_config_file(
    auth_service: RunningService, tmp_path: Path
) -> None:
    tid, run_id = f"tr-{uuid.uuid4()}", f"run-{uuid.uuid4()}"
    produced = tasklogs(
        "run", "--task-run-id", tid, "--pipeline-run-id", run_id, "--endpoint",
        auth_service.grpc_endpoint, "--", "echo", "hello",
        env={**os.environ, "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20tok-acme"},
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    auth_service.wait_for(tid, 3, token="tok-acme")
    token = ["--token", "tok-acme"]
    shown = cli(auth_service, "logs", tid, *token, "-o", "raw")
    assert shown.stdout.splitlines() == ["task started", "hello", "task ended with exit code 0"]
    # Another tenant: the same answer as for a task that does not exist, and no run.
    other = ["--token", "tok-other"]
    _one_line_error(cli(auth_service, "logs", tid, *other), 66, f"task run {tid} not found")
    _one_line_error(cli(auth_service, "tasks", run_id, *other), 66, "not found")
    listed = cli(auth_service, "runs", "-o", "json", *other)
    assert run_id not in listed.stdout
    assert run_id in cli(auth_service, "runs", "-o", "json", *token).stdout
    assert cli(auth_service, "logs", tid, *token).returncode == 0
    assert cli(auth_service, "logs", tid, env={"TASKLOGS_TOKEN": "tok-acme"}).returncode == 0
    token_file = tmp_path / "token"
    token_file.write_text("tok-acme\n", encoding="utf-8")
    assert cli(auth_service, "logs", tid, "--token-file", str(token_file)).returncode == 0
    # The config file: URL and token, no flags at all.
    config = tmp_path / "cli.toml"
    config.write_text(f'api_url = "{auth_service.api_url}"\ntoken = "tok-acme"\n', encoding="utf-8")
    env = {"TASKLOGS_CLI_CONFIG": str(config)}
    assert cli(None, "logs", tid, env=env).returncode == 0
    # The environment wins over the file, a flag over the environment.
    refused = cli(None, "logs", tid, env={**env, "TASKLOGS_TOKEN": "wrong"})
    assert refused.returncode == 77
    assert cli(None, "logs", tid, "--token", "tok-acme", env={**env, "TASKLOGS_TOKEN": "no"}) \
        .returncode == 0  # fmt: skip
    dead = f"http://127.0.0.1:{free_port()}"
    assert cli(None, "logs", tid, env={**env, "TASKLOGS_API_URL": dead}).returncode == 69
    # The user's config directory (XDG) is where the file is found by default.
    xdg = tmp_path / "xdg"
    (xdg / "tasklogs").mkdir(parents=True)
    (xdg / "tasklogs" / "cli.toml").write_text(config.read_text(encoding="utf-8"))
    found = cli(None, "logs", tid, env={"TASKLOGS_CLI_CONFIG": "", "XDG_CONFIG_HOME": str(xdg)})
    assert found.returncode == 0, found.stderr
    config.write_text("api_url = 'http://x'\nnope = 1\n", encoding="utf-8")
    _one_line_error(cli(None, "logs", tid, env=env), 1, "unknown key 'nope'")
