"""Students' Keycloak accounts: login names, the school group tree, and first sign-in by a
one-time activation code. Pure domain: no transport, no database.

- **Login name**: ``s<school code>-<n>``, n a per-school sequence identity allocates when the
  account is first provisioned (``s3607020001-0042``). Nothing about the child is in it (not
  the student number, resident ID or name, which would spread through tokens, Keycloak's
  events and logs); it is short enough to type on a phone and to print on a slip, and it stays
  the same when the student moves school (it then names the school of the first account,
  nothing more). See docs/decisions/0013-student-accounts.md.
- **Names**: Keycloak gets no child's name either (it would reach every token through the
  ``profile`` scope and Keycloak's admin events); the account's first and last name are the
  placeholder :data:`STUDENT_NAME`. Apps ask identity who the student is.
- **Activation codes**: 10 characters of an alphabet without look-alikes (32^10 = 2^50), kept
  only as an HMAC-SHA256 under a key derived from identity's keyed-hash key, bound to the login
  name, valid for :data:`CODE_TTL`; a login name is locked after :data:`MAX_FAILED_ATTEMPTS`
  wrong codes until the school issues a new slip.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from identity.domain.accounts import GROUP_ROOT, DesiredAccount
from identity.domain.model import CITY_CODE
from xinyu_core.errors import InvalidArgument

STUDENT_ROLE = "student"
# Keycloak's user profile wants a first and last name; a child's real name stays in identity.
STUDENT_NAME = "学生"
LOGIN_NAME = re.compile(r"^s\d{10}-\d{4,9}$")

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I
CODE_LENGTH = 10
CODE_TTL = timedelta(days=14)
MAX_FAILED_ATTEMPTS = 5
MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
# The same answer for every refusal that would otherwise tell a guesser something: an unknown
# login name, a wrong, expired or used code all read alike.
REFUSED = "the login name or activation code is not valid"
LOCKED = "too many wrong activation codes: ask the school for a new slip"


def login_name(school_code: str, number: int) -> str:
    if len(school_code) != 10 or not school_code.isdigit() or number < 1:
        raise InvalidArgument("school_code", "a 10-digit school code and a positive number")
    return f"s{school_code}-{number:04d}"


def school_group_path(county_name: str, school_code: str) -> str:
    """``/ganzhou/<county group>/<school code>``: the county level is named as in the realm
    (its Chinese name, attribute ``code`` the division code), as the account sync builds it."""
    return f"{GROUP_ROOT}/{county_name}/{school_code}"


def scope_kind(scope: str) -> str:
    """``city``, ``county`` or ``school`` for a scope code; refuses anything else."""
    if scope == CITY_CODE:
        return "city"
    if re.fullmatch(r"\d{6}", scope):
        return "county"
    if re.fullmatch(r"\d{10}", scope):
        return "school"
    raise InvalidArgument("scope", "the city code, a county code or a 10-digit school code")


def student_account(username: str, school_code: str, group_path: str | None) -> DesiredAccount:
    return DesiredAccount(
        username=username,
        first_name=STUDENT_NAME,
        last_name=STUDENT_NAME,
        org_unit=school_code,
        roles=frozenset({STUDENT_ROLE}),
        email=None,
        group_path=group_path,
    )


def normalise_code(code: str) -> str:
    """Upper case without spaces or dashes, as typed from a slip (``abcd-efgh-jk`` works)."""
    return re.sub(r"[\s-]", "", code).upper()


def format_code(code: str) -> str:
    """For the slip: groups of 4 (``ABCD-EFGH-JK``)."""
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


class ActivationCodes:
    """Makes codes and their keyed hashes. The key is derived from identity's keyed-hash key
    with a label, so codes and resident-ID hashes never share a key."""

    def __init__(self, hash_key: bytes) -> None:
        if len(hash_key) < 16:
            raise InvalidArgument("resident_id_hash_key", "at least 16 bytes")
        self._key = hmac.new(
            hash_key, b"xinyu.identity.activation-code.v1", hashlib.sha256
        ).digest()

    @staticmethod
    def new_code() -> str:
        return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))

    def digest(self, username: str, code: str) -> str:
        message = f"{username}\x00{normalise_code(code)}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def matches(self, username: str, code: str, stored: str) -> bool:
        return hmac.compare_digest(self.digest(username, code), stored)


@dataclass(frozen=True)
class ActivationState:
    """What identity holds about one student's pending activation."""

    username: str
    code_hash: str | None
    expires_at: datetime | None
    used_at: datetime | None
    failed_attempts: int
    activated_at: datetime | None


class Verdict:
    OK = "ok"
    REFUSED = "refused"
    LOCKED = "locked"


def judge(state: ActivationState | None, code: str, now: datetime, codes: ActivationCodes) -> str:
    """Whether ``code`` activates the account: :attr:`Verdict.OK`, ``LOCKED`` (too many wrong
    codes: even the right one is refused) or ``REFUSED`` (no such login name, no live code,
    expired, used, wrong)."""
    if state is None:
        return Verdict.REFUSED
    if state.failed_attempts >= MAX_FAILED_ATTEMPTS:
        return Verdict.LOCKED
    if state.code_hash is None or state.used_at is not None:
        return Verdict.REFUSED
    if state.expires_at is None or state.expires_at <= now:
        return Verdict.REFUSED
    if not codes.matches(state.username, code, state.code_hash):
        return Verdict.REFUSED
    return Verdict.OK


def require_password(password: str, username: str) -> None:
    """The realm's policy, checked before Keycloak is asked (Keycloak checks again):
    12+ characters with a digit, an upper- and a lower-case letter and a special character,
    not the login name."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidArgument("new_password", "12 to 128 characters")
    checks: Mapping[str, bool] = {
        "a digit": any(c.isdigit() for c in password),
        "an upper-case letter": any(c.isupper() for c in password),
        "a lower-case letter": any(c.islower() for c in password),
        "a special character": any(not c.isalnum() for c in password),
    }
    if missing := [name for name, ok in checks.items() if not ok]:
        raise InvalidArgument("new_password", "needs " + ", ".join(missing))
    if username.lower() in password.lower():
        raise InvalidArgument("new_password", "must not contain the login name")
