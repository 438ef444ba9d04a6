"""The read API as the CLI sees it: where it is, the token, and one-line errors.

The URL and the token come from, first to last: the flags (``--api-url``, ``--token``,
``--token-file``), the environment (``TASKLOGS_API_URL``, ``TASKLOGS_TOKEN``), the CLI
config file (``cli.toml`` in the user's config directory: ``$XDG_CONFIG_HOME/tasklogs``,
usually ``~/.config/tasklogs``; ``TASKLOGS_CLI_CONFIG`` names another file), then the
default ``http://127.0.0.1:8080``. The file holds ``api_url``, ``token`` or
``token_file``.

Every failure becomes one :class:`~collector_service.errors.ApiError` with a message a
person can act on (the command prints it as one line, no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from collector_service.cli._common import DEFAULT_API
from collector_service.errors import (
    ApiAuthError,
    ApiError,
    ApiNotFoundError,
    ApiUnreachableError,
    ConfigError,
)

__all__ = ["Api", "ApiSettings", "api_args", "cli_config_path", "quoted"]

Params = Mapping[str, str | int | list[str]]


def cli_config_path() -> Path:
    """``$TASKLOGS_CLI_CONFIG``, else ``cli.toml`` in the user's config directory."""
    named = os.environ.get("TASKLOGS_CLI_CONFIG")
    if named:
        return Path(named)
    import platformdirs

    return platformdirs.user_config_path("tasklogs") / "cli.toml"


def api_args(p: argparse.ArgumentParser) -> None:
    """``--api-url``, ``--token`` and ``--token-file`` (see the module docstring)."""
    g = p.add_argument_group("API")
    g.add_argument(
        "--api-url",
        "--api",
        dest="api_url",
        metavar="URL",
        help=f"the tasklogs API (env TASKLOGS_API_URL, or api_url in {_shown_path()}; "
        f"default {DEFAULT_API})",
    )
    g.add_argument("--token", help="bearer token (env TASKLOGS_TOKEN, or token in the file)")
    g.add_argument("--token-file", type=Path, metavar="FILE", help="read the token from FILE")


def _shown_path() -> str:
    path = str(cli_config_path())
    home = str(Path.home())
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


@dataclass(frozen=True, slots=True)
class ApiSettings:
    url: str
    token: str | None
    #: Where the settings came from (for error messages): "flag", "env", a file, "default".
    source: str = "default"

    @classmethod
    def resolve(cls, args: argparse.Namespace) -> ApiSettings:
        file_values = _read_file()
        path = str(cli_config_path())
        url, source = DEFAULT_API, "default"
        if file_values.get("api_url"):
            url, source = str(file_values["api_url"]), path
        if os.environ.get("TASKLOGS_API_URL"):
            url, source = os.environ["TASKLOGS_API_URL"], "TASKLOGS_API_URL"
        if getattr(args, "api_url", None):
            url, source = args.api_url, "--api-url"
        token: str | None = None
        if file_values.get("token"):
            token = str(file_values["token"])
        if file_values.get("token_file"):
            token = _read_token(Path(str(file_values["token_file"])).expanduser())
        if os.environ.get("TASKLOGS_TOKEN"):
            token = os.environ["TASKLOGS_TOKEN"]
        if getattr(args, "token_file", None):
            token = _read_token(args.token_file)
        if getattr(args, "token", None):
            token = args.token
        if not url.startswith(("http://", "https://")):
            raise ConfigError(
                f"API URL {url!r} (from {source}) must start with http:// or https://"
            )
        return cls(url.rstrip("/"), token or None, source)


def _read_file() -> dict[str, Any]:
    path = cli_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    unknown = sorted(set(values) - {"api_url", "token", "token_file"})
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: api_url, token, token_file)")
    return values


def _read_token(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"token file {path}: {exc.strerror or exc}") from exc


def quoted(segment: str) -> str:
    """A path segment (a task run or pipeline run id) for a URL."""
    return quote(segment, safe="")


class Api:
    """A synchronous client of the read API that raises one-line :class:`ApiError`\\ s."""

    def __init__(self, settings: ApiSettings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        self._client = httpx.Client(
            base_url=settings.url, headers=headers, timeout=httpx.Timeout(timeout)
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` and return its JSON; :class:`ApiError` on any failure."""
        with self.errors():
            resp = self._client.get(path, params=_params(params))
        self.check(resp)
        return resp.json()

    @contextlib.contextmanager
    def stream(
        self,
        path: str,
        params: Params | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        read_timeout: float | None = None,
    ) -> Iterator[httpx.Response]:
        """A streamed GET (SSE, downloads); the response is checked before it is yielded."""
        timeout = httpx.Timeout(self._client.timeout.connect, read=read_timeout)
        with (
            self.errors(),
            self._client.stream(
                "GET", path, params=_params(params), headers=dict(headers or {}), timeout=timeout
            ) as resp,
        ):
            if resp.status_code >= 400:
                resp.read()
                self.check(resp)
            yield resp

    @contextlib.contextmanager
    def errors(self) -> Iterator[None]:
        """Transport failures as :class:`ApiUnreachableError` (or :class:`ApiError`)."""
        url = self.settings.url
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise ApiUnreachableError(
                f"cannot reach the tasklogs API at {url} ({_reason(exc)}); is `tasklogs serve` "
                f"running there? Set --api-url, TASKLOGS_API_URL or api_url in {_shown_path()}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise ApiUnreachableError(f"the tasklogs API at {url} did not answer in time") from exc
        except httpx.RemoteProtocolError as exc:
            raise ApiUnreachableError(
                f"the tasklogs API at {url} closed the connection ({_reason(exc)})"
            ) from exc
        except httpx.HTTPError as exc:
            raise ApiError(f"the tasklogs API at {url}: {_reason(exc)}") from exc

    def check(self, resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        detail = _detail(resp)
        where = f"the tasklogs API at {self.settings.url}"
        if resp.status_code in (401, 403):
            if self.settings.token is None:
                raise ApiAuthError(
                    f"{where} wants a token (HTTP {resp.status_code}: {detail}); "
                    f"set --token, TASKLOGS_TOKEN or token in {_shown_path()}"
                )
            raise ApiAuthError(
                f"{where} refused the token (HTTP {resp.status_code}: {detail}); "
                "check --token / TASKLOGS_TOKEN"
            )
        if resp.status_code == 404:
            if detail == "Not Found":  # the framework's answer: no such route
                raise ApiNotFoundError(
                    f"{where} has no {resp.request.method} {resp.url.path} (an older service?)"
                )
            raise ApiNotFoundError(detail)
        raise ApiError(f"{where}: HTTP {resp.status_code} for {resp.url.path}: {detail}")


def _params(params: Params | None) -> list[tuple[str, str | int | float | bool | None]]:
    out: list[tuple[str, str | int | float | bool | None]] = []
    for key, value in (params or {}).items():
        if isinstance(value, list):
            out.extend((key, v) for v in value)
        else:
            out.append((key, value))
    return out


def _detail(resp: httpx.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        return detail if isinstance(detail, str) else str(detail)[:300]
    return str(body)[:300]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    if "Connection refused" in text or "[Errno 111]" in text:
        return "connection refused"
    return text.splitlines()[0][:200] if text else type(exc).__name__
