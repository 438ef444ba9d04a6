"""Who is asking: bearer tokens (header) or short-lived signed query tokens.

EventSource cannot send headers, so a client holding a bearer token asks
``POST /api/v1/auth/stream-token`` for a query token, an HMAC-SHA256 over its tenant and
expiry signed with ``auth.signing_key``, and opens ``...?access_token=<token>``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request

from collector_service.auth import Authenticator, bearer_token

__all__ = ["Identity", "TokenSigner", "resolve_identity"]

_PREFIX = "tlq1"


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller's tenant; ``None`` when auth is off (sees everything)."""

    tenant: str | None

    @property
    def budget_key(self) -> str:
        return self.tenant or ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Mints and checks ``tlq1.<tenant b64>.<expiry>.<mac>`` tokens."""

    def __init__(self, key: bytes | None, ttl_s: int) -> None:
        # Without a configured key, tokens are valid in this process only.
        self._key = key or secrets.token_bytes(32)
        self.ttl_s = ttl_s

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def mint(self, tenant: str, now: float | None = None) -> tuple[str, int]:
        expires = int((now or time.time()) + self.ttl_s)
        payload = f"{_PREFIX}.{_b64(tenant.encode())}.{expires}"
        return f"{payload}.{self._mac(payload)}", expires

    def verify(self, token: str, now: float | None = None) -> str | None:
        """The tenant of a valid, unexpired token, else ``None``."""
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != _PREFIX:
            return None
        payload = ".".join(parts[:3])
        if not hmac.compare_digest(self._mac(payload), parts[3]):
            return None
        try:
            expires = int(parts[2])
            tenant = _unb64(parts[1]).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if expires < (now or time.time()):
            return None
        return tenant


def resolve_identity(
    request: Request, auth: Authenticator, signer: TokenSigner, *, allow_query: bool
) -> Identity:
    """The caller's identity, or 401. Query tokens only where ``allow_query``."""
    if not auth.enabled:
        return Identity(None)
    token = bearer_token(request.headers.get("authorization"))
    if token is not None:
        tenant = auth.tenant_for(token)
        if tenant is not None:
            return Identity(tenant)
    query = request.query_params.get("access_token")
    if allow_query and query:
        tenant = signer.verify(query)
        if tenant is not None:
            return Identity(tenant)
        raise HTTPException(
            status_code=401,
            detail="access_token is invalid or expired: mint a new one",
            headers={"WWW-Authenticate": "Bearer"},
        )
    raise HTTPException(
        status_code=401,
        detail="missing or unknown bearer token",
        headers={"WWW-Authenticate": "Bearer"},
    )
