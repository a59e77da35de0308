"""Verification of Keycloak access tokens, shared by the gateway and every service.

Fails closed: anything not proven valid is refused. Signing keys come from the realm's JWKS
endpoint and are cached; an unknown key id triggers a refetch at most once per cooldown, and
while Keycloak is unreachable the last good keys keep verifying (a Keycloak restart must not
stop a crisis worker from acknowledging an alert), while unknown keys stay refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt

from xinyu_core.errors import PermissionDenied, Unauthenticated
from xinyu_core.settings import KeycloakSettings

log = logging.getLogger(__name__)

# Keycloak signs access tokens with RS256 unless the realm says otherwise. Symmetric and
# "none" algorithms are never accepted: a public key must not double as an HMAC secret.
DEFAULT_ALGORITHMS = frozenset({"RS256", "PS256", "ES256"})
SERVICE_ROLE = "service"


@dataclass(frozen=True)
class Principal:
    """Who is asking: the verified claims a decision needs, and the raw token to forward."""

    subject: str
    username: str
    roles: frozenset[str]
    org_unit: str
    client_id: str
    token: str = field(repr=False)

    @property
    def is_service(self) -> bool:
        return SERVICE_ROLE in self.roles

    def has_any_role(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)

    def require_any_role(self, *roles: str) -> None:
        if not self.has_any_role(*roles):
            raise PermissionDenied("the caller's roles do not allow this")


class JwksCache:
    """Keeps the realm's signing keys; refetches on expiry or an unknown key id, rate-limited."""

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        refetch_cooldown_seconds: float,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._http = http
        self._cooldown = refetch_cooldown_seconds
        self._max_age = max_age_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    @property
    def known_key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    async def ensure_loaded(self) -> bool:
        """Loads keys if none are held yet; True when at least one key can verify."""
        if not self._keys:
            await self._refresh_if_allowed()
        return bool(self._keys)

    async def key(self, key_id: str) -> jwt.PyJWK:
        if key_id not in self._keys or self._is_stale():
            await self._refresh_if_allowed()
        found = self._keys.get(key_id)
        if found is None:
            raise Unauthenticated("token signed with an unknown key")
        return found

    def _is_stale(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > self._max_age

    async def _refresh_if_allowed(self) -> None:
        async with self._lock:
            now = self._clock()
            if self._attempted_at is not None and now - self._attempted_at < self._cooldown:
                return
            self._attempted_at = now
            try:
                response = await self._http.get(self._url, timeout=5.0)
                response.raise_for_status()
                keys = _signing_keys(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKError) as error:
                # Keep the last good keys: verification goes on with what we had.
                log.warning(
                    "jwks refresh failed; keeping %d cached keys: %s",
                    len(self._keys),
                    type(error).__name__,
                )
                return
            self._keys = keys
            self._fetched_at = now


def _signing_keys(document: Any) -> dict[str, jwt.PyJWK]:
    keys: dict[str, jwt.PyJWK] = {}
    for entry in document.get("keys", []):
        if entry.get("use", "sig") != "sig" or "kid" not in entry:
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except jwt.PyJWKError:
            continue  # an algorithm this library cannot use; other keys still count
    return keys


class TokenVerifier:
    """Turns a bearer token into a :class:`Principal`, or raises :class:`Unauthenticated`."""

    def __init__(
        self,
        settings: KeycloakSettings,
        jwks: JwksCache,
        *,
        algorithms: frozenset[str] = DEFAULT_ALGORITHMS,
        cache_size: int = 1024,
    ) -> None:
        self._settings = settings
        self._jwks = jwks
        self._algorithms = algorithms
        self._cache_size = cache_size
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def verify(self, token: str) -> Principal:
        # A token verified before is not verified again until it expires: a service's own
        # client token (the gateway's, forwarding students' answers) arrives on every call,
        # and its signature check was a noticeable share of a hot RPC's CPU. Tokens are
        # verified offline anyway, so a cached verdict revokes nothing a fresh check would.
        cached = self._verified.get(token)
        if cached is not None:
            principal, expires_at = cached
            if time.time() < expires_at:
                return principal
            del self._verified[token]
        principal, expires_at = await self._verify(token)
        if len(self._verified) >= self._cache_size:
            self._verified.clear()
        self._verified[token] = (principal, expires_at)
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as error:
            raise Unauthenticated("malformed token") from error
        algorithm = header.get("alg")
        key_id = header.get("kid")
        if algorithm not in self._algorithms:
            raise Unauthenticated("token algorithm not accepted")
        if not isinstance(key_id, str):
            raise Unauthenticated("token has no key id")
        key = await self._jwks.key(key_id)
        if key.algorithm_name != algorithm:
            raise Unauthenticated("token algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[algorithm],
                audience=self._settings.audience,
                issuer=self._settings.issuer,
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise Unauthenticated("token expired") from error
        except jwt.PyJWTError as error:
            raise Unauthenticated(f"token refused: {type(error).__name__}") from error
        return _principal(claims, token), float(claims["exp"])


def _principal(claims: dict[str, Any], token: str) -> Principal:
    realm_access = claims.get("realm_access") or {}
    roles = realm_access.get("roles") or []
    org_unit = claims.get("org_unit") or ""
    if isinstance(org_unit, list):  # a multivalued attribute mapper yields a list
        org_unit = org_unit[0] if org_unit else ""
    return Principal(
        subject=str(claims["sub"]),
        username=str(claims.get("preferred_username", "")),
        roles=frozenset(str(role) for role in roles),
        org_unit=str(org_unit),
        client_id=str(claims.get("azp", "")),
        token=token,
    )


def build_token_verifier(settings: KeycloakSettings, http: httpx.AsyncClient) -> TokenVerifier:
    jwks = JwksCache(
        settings.resolved_jwks_url,
        http,
        refetch_cooldown_seconds=settings.jwks_refetch_cooldown_seconds,
        max_age_seconds=settings.jwks_max_age_seconds,
    )
    return TokenVerifier(settings, jwks)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer …`` value; refuses anything else."""
    if not authorization:
        raise Unauthenticated("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    return token.strip()


class ServiceTokenSource:
    """Client-credentials tokens for calls with no person behind them, renewed before expiry."""

    def __init__(
        self,
        settings: KeycloakSettings,
        http: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._http = http
        self._clock = clock
        self._token = ""
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        async with self._lock:
            if self._clock() < self._expires_at - 30:
                return self._token
            response = await self._http.post(
                f"{self._settings.issuer.rstrip('/')}/protocol/openid-connect/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._settings.client_id,
                    "client_secret": self._settings.client_secret.get_secret_value(),
                },
                timeout=5.0,
            )
            response.raise_for_status()
            body = response.json()
            self._token = str(body["access_token"])
            self._expires_at = self._clock() + float(body.get("expires_in", 60))
            return self._token
