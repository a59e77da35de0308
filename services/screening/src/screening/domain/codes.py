"""Join codes, personal codes and sitting tokens.

Codes are six characters of an alphabet without look-alikes (no 0/O, 1/I/L), so a child can
copy one from a slip. Only their keyed hashes (HMAC-SHA256) are stored. A sitting token is an
HS256 JWT for one student in one sitting, so SaveAnswers and SubmitAnswers need no Keycloak
sign-in (a class of fifty signing in at once, a city of them in one week, is what Keycloak
should not see).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import jwt

from xinyu_core.errors import Unauthenticated

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
TOKEN_ISSUER = "screening"  # noqa: S105 - a claim, not a secret
TOKEN_AUDIENCE = "xinyu-sitting"  # noqa: S105
TOKEN_ALGORITHM = "HS256"  # noqa: S105
VERIFIED_CACHE_SIZE = 20_000


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise_code(code: str) -> str:
    """As typed: spaces and case do not matter."""
    return "".join(code.split()).upper()


def is_code(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(c in ALPHABET for c in code)


@dataclass(frozen=True)
class SittingClaims:
    student_id: UUID
    sitting_id: UUID


class SittingKeys:
    """The one secret behind sitting tokens (signed with it as given) and code hashes (under a
    key derived from it with its own label)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the sitting token key must be at least 32 bytes")
        self._token_key = key
        # Tokens already verified (a student submits each instrument of the battery with the
        # same token): their claims and expiry, so the signature is checked once per token.
        self._verified: dict[str, tuple[SittingClaims, int]] = {}
        self._code_key = hmac.new(key, b"xinyu.screening.code-hash", hashlib.sha256).digest()

    def join_code_hash(self, code: str) -> str:
        return hmac.new(self._code_key, b"join:" + code.encode(), hashlib.sha256).hexdigest()

    def personal_code_hash(self, sitting_id: UUID, code: str) -> str:
        message = f"personal:{sitting_id}:{code}".encode()
        return hmac.new(self._code_key, message, hashlib.sha256).hexdigest()

    def issue(self, claims: SittingClaims, issued_at: datetime, expires_at: datetime) -> str:
        return jwt.encode(
            {
                "iss": TOKEN_ISSUER,
                "aud": TOKEN_AUDIENCE,
                "sub": str(claims.student_id),
                "sid": str(claims.sitting_id),
                "iat": int(issued_at.timestamp()),
                "exp": int(expires_at.timestamp()),
            },
            self._token_key,
            algorithm=TOKEN_ALGORITHM,
        )

    def verify(self, token: str, now: datetime) -> SittingClaims:
        if not token:
            raise Unauthenticated("a sitting token is required")
        known = self._verified.get(token)
        if known is None:
            known = self._decode(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = known
        claims, expires = known
        # Checked against the service's clock (injectable), not the library's, on every use.
        if now.timestamp() >= expires:
            raise Unauthenticated("the sitting token has expired")
        return claims

    def _decode(self, token: str) -> tuple[SittingClaims, int]:
        try:
            claims = jwt.decode(
                token,
                self._token_key,
                algorithms=[TOKEN_ALGORITHM],
                audience=TOKEN_AUDIENCE,
                issuer=TOKEN_ISSUER,
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub", "sid"],
                    "verify_exp": False,
                },
            )
            expires = int(claims["exp"])
            student_id, sitting_id = UUID(str(claims["sub"])), UUID(str(claims["sid"]))
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise Unauthenticated("the sitting token is not valid") from error
        return SittingClaims(student_id=student_id, sitting_id=sitting_id), expires
