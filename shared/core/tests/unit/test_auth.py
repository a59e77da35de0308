from __future__ import annotations

import base64
import json
import time

import jwt
import pytest

from xinyu_core.auth import JwksCache, TokenVerifier, bearer_token
from xinyu_core.errors import Unauthenticated
from xinyu_core.settings import KeycloakSettings

from .conftest import AUDIENCE, ISSUER, FakeKeycloak, ManualClock, SigningKey


def verifier(keycloak: FakeKeycloak, clock: ManualClock, cooldown: float = 30.0) -> TokenVerifier:
    settings = KeycloakSettings(issuer=ISSUER, audience=AUDIENCE, leeway_seconds=30)
    jwks = JwksCache(
        settings.resolved_jwks_url,
        keycloak.client(),
        refetch_cooldown_seconds=cooldown,
        max_age_seconds=600,
        clock=clock,
    )
    return TokenVerifier(settings, jwks)


async def test_valid_token_yields_principal(
    keycloak: FakeKeycloak, clock: ManualClock, signing_key: SigningKey
) -> None:
    principal = await verifier(keycloak, clock).verify(signing_key.sign())
    assert principal.roles == frozenset({"psych_teacher"})
    assert principal.org_unit == "3607020001"
    assert principal.username == "psych.teacher"
    assert principal.token not in repr(principal)


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["realm_access"] = {"roles": ["city_admin"]}
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


@pytest.mark.parametrize(
    ("make_token", "reason"),
    [
        (lambda key: _tamper(key.sign()), "InvalidSignatureError"),
        (lambda key: key.sign(exp=int(time.time()) - 120), "expired"),
        (lambda key: key.sign(aud="another-api"), "InvalidAudienceError"),
        (lambda key: key.sign(iss="http://127.0.0.1:8180/realms/other"), "InvalidIssuerError"),
        (lambda key: key.sign(exp=None), "MissingRequiredClaimError"),
        (lambda key: "not.a.token", "malformed"),
    ],
)
async def test_bad_tokens_are_refused(
    keycloak: FakeKeycloak, clock: ManualClock, signing_key: SigningKey, make_token, reason
) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(Unauthenticated) as refused:
        await verifier(keycloak, clock).verify(make_token(signing_key))
    assert reason in refused.value.message


async def test_a_verified_token_is_not_verified_again_until_it_expires(
    keycloak: FakeKeycloak,
    clock: ManualClock,
    signing_key: SigningKey,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = verifier(keycloak, clock)
    token = signing_key.sign()
    first = await tokens.verify(token)
    calls: list[str] = []
    real_decode = jwt.decode

    def counting_decode(*args: object, **kwargs: object) -> object:
        calls.append("decode")
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", counting_decode)
    assert await tokens.verify(token) == first
    assert calls == []
    # Another token is verified on its own; a cached one past its expiry is verified again.
    with pytest.raises(Unauthenticated):
        await tokens.verify(_tamper(token))
    assert calls == ["decode"]
    stale = signing_key.sign(exp=int(time.time()) + 60)
    await tokens.verify(stale)
    assert calls == ["decode", "decode"]
    later = time.time() + 61
    monkeypatch.setattr(time, "time", lambda: later)
    await tokens.verify(stale)  # PyJWT's own clock still says valid, with the leeway
    assert calls == ["decode", "decode", "decode"]


async def test_small_clock_skew_is_tolerated(
    keycloak: FakeKeycloak, clock: ManualClock, signing_key: SigningKey
) -> None:
    token = signing_key.sign(exp=int(time.time()) - 10)
    assert (await verifier(keycloak, clock).verify(token)).subject


async def test_symmetric_and_none_algorithms_are_refused(
    keycloak: FakeKeycloak, clock: ManualClock, signing_key: SigningKey
) -> None:
    public_pem = signing_key.jwk()["n"]
    hs = jwt.encode({"sub": "x"}, public_pem, algorithm="HS256", headers={"kid": "key-1"})
    none = jwt.encode({"sub": "x"}, None, algorithm="none", headers={"kid": "key-1"})
    for token in (hs, none):
        with pytest.raises(Unauthenticated, match="algorithm"):
            await verifier(keycloak, clock).verify(token)


async def test_cached_keys_verify_while_keycloak_is_down(
    keycloak: FakeKeycloak, clock: ManualClock, signing_key: SigningKey
) -> None:
    check = verifier(keycloak, clock, cooldown=5)
    await check.verify(signing_key.sign())
    keycloak.up = False
    clock.now += 3600  # keys are stale now, and the refresh fails
    assert (await check.verify(signing_key.sign())).subject
    stranger = SigningKey(kid="key-unknown")
    clock.now += 10
    with pytest.raises(Unauthenticated, match="unknown key"):
        await check.verify(stranger.sign())


async def test_unknown_key_refetch_is_rate_limited(
    keycloak: FakeKeycloak, clock: ManualClock, signing_key: SigningKey
) -> None:
    check = verifier(keycloak, clock, cooldown=30)
    await check.verify(signing_key.sign())
    fetches = keycloak.fetches
    stranger = SigningKey(kid="key-rotated")
    clock.now += 31  # past the cooldown of the first fetch: one refetch is allowed, no more
    for _ in range(20):
        with pytest.raises(Unauthenticated):
            await check.verify(stranger.sign())
    assert keycloak.fetches == fetches + 1
    # Keycloak rotates to the new key; after the cooldown it is picked up.
    keycloak.keys.append(stranger)
    clock.now += 31
    assert (await check.verify(stranger.sign())).subject


@pytest.mark.parametrize("value", [None, "", "Basic abc", "Bearer ", "token-without-scheme"])
def test_bearer_token_requires_the_bearer_scheme(value: str | None) -> None:
    with pytest.raises(Unauthenticated):
        bearer_token(value)
