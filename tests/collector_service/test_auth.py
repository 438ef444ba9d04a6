"""Bearer tokens to tenants: parsing, sources (literal, env, files), refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector_service.auth import AuthConfig, Authenticator, TenantConfig, bearer_token
from collector_service.errors import AuthError, ConfigError
from collector_service.receivers import Ingestor, ReceiverSettings
from tests.collector_service.receiver_support import Sink


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer  abc ", "abc"),
        ("BEARER abc", "abc"),
        ("Basic abc", None),
        ("Bearer", None),
        ("Bearer   ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_tokens_from_literals_env_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("# one per line\nfile-1\n\n  file-2  \n", encoding="utf-8")
    monkeypatch.setenv("GLOBEX_TOKEN", "env-1\n")
    auth = Authenticator(
        AuthConfig(
            tenants={
                "acme": TenantConfig(tokens=["lit-1"], token_files=[tokens]),  # type: ignore[list-item]
                "globex": TenantConfig(token_env=["GLOBEX_TOKEN"]),
            }
        )
    )
    assert auth.enabled
    assert auth.tenant_for("lit-1") == "acme"
    assert auth.tenant_for("file-1") == "acme"
    assert auth.tenant_for("file-2") == "acme"
    assert auth.tenant_for("env-1") == "globex"
    assert auth.tenant_for("# one per line") is None
    assert auth.tenant_for("lit-") is None
    assert auth.tenant_for(None) is None


def test_no_tenants_means_auth_is_off() -> None:
    auth = Authenticator(AuthConfig())
    assert not auth.enabled
    ingestor = Ingestor(ReceiverSettings(), Sink(), auth)
    assert ingestor.authenticate("http", None) is None


def test_refusals_say_why() -> None:
    auth = Authenticator(AuthConfig(tenants={"a": TenantConfig(tokens=["t"])}))  # type: ignore[list-item]
    ingestor = Ingestor(ReceiverSettings(), Sink(), auth)
    with pytest.raises(AuthError, match="missing bearer token"):
        ingestor.authenticate("http", None)
    with pytest.raises(AuthError, match="unknown bearer token"):
        ingestor.authenticate("http", "Bearer u")
    assert ingestor.authenticate("grpc", "Bearer t") == "a"


@pytest.mark.parametrize(
    ("tenant", "message"),
    [
        (TenantConfig(token_env=["TASKLOGS_TEST_UNSET_TOKEN"]), ".token_env: environment variable"),
        (TenantConfig(token_files=[Path("/nonexistent/t")]), ".token_files: cannot read"),
        (TenantConfig(), ": no tokens configured"),
    ],
)
def test_bad_token_sources_name_the_key(tenant: TenantConfig, message: str) -> None:
    with pytest.raises(ConfigError, match=rf"auth\.tenants\.x{message}"):
        Authenticator(AuthConfig(tenants={"x": tenant}))
