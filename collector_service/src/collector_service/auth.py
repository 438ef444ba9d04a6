"""Bearer tokens to tenants: who may send logs, and whose logs a reader may see.

The receivers (gRPC ``authorization`` metadata, HTTP ``Authorization`` header) and the
HTTP API's extensions (through the host) share one :class:`Authenticator`. With no
tenants configured, auth is off and every request is anonymous (tenant ``None``).
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr, model_validator

from collector_service.component.config import StrictModel
from collector_service.errors import ConfigError

__all__ = ["AuthConfig", "Authenticator", "TenantConfig", "bearer_token"]


class TenantConfig(StrictModel):
    """Bearer tokens of one tenant: literal, from environment variables, or from files."""

    tokens: list[SecretStr] = []
    token_env: list[str] = []
    token_files: list[Path] = []


class AuthConfig(StrictModel):
    """Bearer tokens mapped to tenants; with no tenants configured, auth is off."""

    tenants: dict[str, TenantConfig] = {}
    #: Key that signs short-lived query tokens (EventSource cannot send headers).
    signing_key: SecretStr | None = None
    #: ``/metrics`` (the API's and ``tasklogs worker --metrics-endpoint``'s) needs a bearer
    #: token of any tenant. Off by default: metrics carry no log content and no tenant
    #: names, and Prometheus scrapes them; bind the API to loopback or turn this on.
    protect_metrics: bool = False
    #: ``/docs``, ``/openapi.json`` need a bearer token of any tenant (the static Swagger
    #: assets stay public). Off by default: the API description is no secret.
    protect_docs: bool = False

    @model_validator(mode="after")
    def _protect_needs_tenants(self) -> AuthConfig:
        for flag in ("protect_metrics", "protect_docs"):
            if getattr(self, flag) and not self.tenants:
                raise ValueError(f"{flag} needs auth.tenants (no token could pass)")
        return self


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value, else ``None``."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


class Authenticator:
    """Maps tokens to tenants; secrets are read once, at start-up, before any I/O."""

    def __init__(self, config: AuthConfig, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._tokens: list[tuple[bytes, str]] = []
        for tenant, tc in config.tenants.items():
            secrets = [t.get_secret_value() for t in tc.tokens]
            for name in tc.token_env:
                value = env.get(name)
                if not value:
                    raise ConfigError(
                        f"auth.tenants.{tenant}.token_env: environment variable {name} is not set"
                    )
                secrets.append(value.strip())
            for path in tc.token_files:
                try:
                    secrets.extend(
                        line.strip()
                        for line in path.read_text(encoding="utf-8").splitlines()
                        if line.strip() and not line.startswith("#")
                    )
                except OSError as exc:
                    raise ConfigError(
                        f"auth.tenants.{tenant}.token_files: cannot read {path}: {exc.strerror}"
                    ) from exc
            if not secrets:
                raise ConfigError(f"auth.tenants.{tenant}: no tokens configured")
            self._tokens.extend((s.encode(), tenant) for s in secrets)

    @property
    def enabled(self) -> bool:
        return bool(self._tokens)

    def tenant_for(self, token: str | None) -> str | None:
        """The tenant of ``token``, or ``None`` when it is missing or unknown.

        Compares in constant time against every configured token.
        """
        if token is None:
            return None
        given = token.encode()
        found: str | None = None
        for secret, tenant in self._tokens:
            if hmac.compare_digest(secret, given):
                found = tenant
        return found
