"""Resident identity numbers (居民身份证号码, GB 11643-1999).

The platform never stores a resident ID in clear: only a keyed hash, to match a student when a
partner unit (police, cyberspace) names one by resident ID (R12), and a masked form for people
to recognise the record. The key lives in identity's settings, so the hash cannot be reversed
by hashing all plausible numbers without it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from xinyu_core.errors import InvalidArgument

_SHAPE = re.compile(r"^\d{17}[\dX]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def normalise(raw: str, field: str = "resident_id") -> str:
    """Upper-cases the trailing x, strips spaces, and validates shape and check digit."""
    value = raw.strip().upper()
    if not _SHAPE.match(value):
        raise InvalidArgument(field, "must be 17 digits followed by a digit or X")
    if check_character(value[:17]) != value[17]:
        raise InvalidArgument(field, "check digit does not match")
    return value


def mask(normalised: str) -> str:
    """Region code and last four kept: enough to recognise a record, not to use it."""
    return f"{normalised[:6]}{'*' * 8}{normalised[-4:]}"


@dataclass(frozen=True)
class ProtectedResidentId:
    keyed_hash: str
    masked: str


class ResidentIdProtector:
    """Turns a resident ID into what may be stored. Built once, with identity's hash key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the resident ID hash key must be at least 16 bytes")
        self._key = key

    def keyed_hash(self, normalised: str) -> str:
        """HMAC-SHA256 under identity's hash key; also what student numbers are matched by
        (see student_number.py), so it takes any ASCII identifier."""
        return hmac.new(self._key, normalised.encode("ascii"), hashlib.sha256).hexdigest()

    def protect(self, raw: str, field: str = "resident_id") -> ProtectedResidentId:
        value = normalise(raw, field)
        return ProtectedResidentId(keyed_hash=self.keyed_hash(value), masked=mask(value))
