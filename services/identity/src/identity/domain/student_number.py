"""Student numbers (学籍号) as they may be stored.

A G-form student number is "G" followed by the child's resident ID, so storing it in clear
would undo what :mod:`identity.domain.resident_id` does. It is stored three ways instead:

* a keyed hash (the resident-ID hash key), unique, for every match, join and idempotency check;
* AES-256-GCM ciphertext (``IDENTITY_FIELD_ENCRYPTION_KEY``, associated data naming the column),
  decrypted only by the repository into the domain ``Student`` for callers allowed to see it;
* a masked form for people to recognise the record.
"""

from __future__ import annotations

from dataclasses import dataclass

from identity.domain.resident_id import ResidentIdProtector
from xinyu_core.crypto import FieldCipher

# Binds a ciphertext to its column: moved anywhere else it no longer decrypts.
ASSOCIATED_DATA = b"students.student_number"


def mask(number: str) -> str:
    """Letter and region code kept, then eight stars and the last four: G360702********1234."""
    if len(number) <= 11:
        return number[:1] + "*" * (len(number) - 1)
    return f"{number[:7]}{'*' * (len(number) - 11)}{number[-4:]}"


@dataclass(frozen=True)
class ProtectedStudentNumber:
    keyed_hash: str
    cipher: bytes
    masked: str


class StudentNumberProtector:
    """Built once, from identity's hash key and field encryption key."""

    def __init__(self, hasher: ResidentIdProtector, cipher: FieldCipher) -> None:
        self._hasher = hasher
        self._cipher = cipher

    def keyed_hash(self, number: str) -> str:
        return self._hasher.keyed_hash(number)

    def encrypt(self, number: str) -> bytes:
        return self._cipher.encrypt(number.encode("ascii"), ASSOCIATED_DATA)

    def protect(self, number: str) -> ProtectedStudentNumber:
        return ProtectedStudentNumber(self.keyed_hash(number), self.encrypt(number), mask(number))

    def reveal(self, cipher: bytes) -> str:
        return self._cipher.decrypt(bytes(cipher), ASSOCIATED_DATA).decode("ascii")
