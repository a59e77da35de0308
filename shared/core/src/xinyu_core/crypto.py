"""Encryption of single database fields that must be readable again (not just matched).

AES-256-GCM with a random 96-bit nonce per value, stored as
``key id (1 byte) || nonce || ciphertext || tag``. The associated data names where the value
lives (e.g. ``b"students.student_number"``), so a ciphertext copied into another column or
table no longer decrypts. Matching and uniqueness belong to a keyed hash stored beside the
ciphertext: the same value encrypts differently every time.

Keys rotate: a cipher encrypts under its current key and decrypts under any key it was given
by id, so a new key can be put in place first and the stored values re-encrypted afterwards,
row by row (``needs_rotation`` and ``reencrypt``), while everything keeps reading. The key id
is the first byte, so a database can count what is still under an old key
(``get_byte(column, 0)``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MIN_KEY_ID, MAX_KEY_ID = 1, 255


class DecryptionFailed(ValueError):
    """The ciphertext was altered, is for other associated data, or another key made it."""


def key_from_hex(value: str, name: str = "field encryption key") -> bytes:
    """A 32-byte key written as 64 hexadecimal characters, as settings carry it."""
    text = value.strip()
    try:
        key = bytes.fromhex(text)
    except ValueError as error:
        raise ValueError(f"the {name} must be {KEY_BYTES * 2} hexadecimal characters") from error
    if len(key) != KEY_BYTES:
        raise ValueError(f"the {name} must be {KEY_BYTES * 2} hexadecimal characters")
    return key


def previous_keys_from_text(value: str) -> dict[int, bytes]:
    """Earlier keys as settings carry them: ``"1:<64 hex>,2:<64 hex>"`` (empty: none)."""
    keys: dict[int, bytes] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        key_id, separator, hex_key = entry.partition(":")
        if not separator or not key_id.strip().isdigit():
            raise ValueError("previous keys must be written as <id>:<64 hex characters>, …")
        number = _key_id(int(key_id))
        if number in keys:
            raise ValueError(f"previous key {number} is given twice")
        keys[number] = key_from_hex(hex_key, f"previous key {number}")
    return keys


def _key_id(value: int) -> int:
    if not MIN_KEY_ID <= value <= MAX_KEY_ID:
        raise ValueError(f"a key id must be between {MIN_KEY_ID} and {MAX_KEY_ID}")
    return value


class FieldCipher:
    """The current key and any earlier ones, one AESGCM object each: cheap enough to encrypt a
    roster's worth of rows."""

    def __init__(
        self, key: bytes, *, key_id: int = 1, previous: Mapping[int, bytes] | None = None
    ) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the field encryption key must be {KEY_BYTES} bytes")
        self._key_id = _key_id(key_id)
        self._prefix = bytes([self._key_id])
        self._keys = {_key_id(number): AESGCM(old) for number, old in (previous or {}).items()}
        if self._key_id in self._keys:
            raise ValueError(f"key {self._key_id} is both the current and a previous key")
        self._keys[self._key_id] = AESGCM(key)

    @classmethod
    def from_hex(cls, value: str, *, key_id: int = 1, previous: str = "") -> FieldCipher:
        return cls(key_from_hex(value), key_id=key_id, previous=previous_keys_from_text(previous))

    @property
    def key_id(self) -> int:
        """The id every new ciphertext starts with."""
        return self._key_id

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return (
            self._prefix
            + nonce
            + self._keys[self._key_id].encrypt(nonce, plaintext, associated_data)
        )

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        if len(ciphertext) < 1 + NONCE_BYTES + TAG_BYTES:
            raise DecryptionFailed("the ciphertext is too short")
        aead = self._keys.get(ciphertext[0])
        if aead is None:
            raise DecryptionFailed(f"made under key {ciphertext[0]}, which is not configured")
        try:
            return aead.decrypt(
                ciphertext[1 : 1 + NONCE_BYTES], ciphertext[1 + NONCE_BYTES :], associated_data
            )
        except InvalidTag as error:
            raise DecryptionFailed(
                "the ciphertext does not verify under this key and associated data"
            ) from error

    def needs_rotation(self, ciphertext: bytes) -> bool:
        """True when the value was made under another key than the current one."""
        return not ciphertext or ciphertext[0] != self._key_id

    def reencrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        """The same value under the current key (a fresh nonce)."""
        return self.encrypt(self.decrypt(ciphertext, associated_data), associated_data)

    def encrypt_text(self, plaintext: str, associated_data: bytes) -> bytes:
        return self.encrypt(plaintext.encode("utf-8"), associated_data)

    def decrypt_text(self, ciphertext: bytes, associated_data: bytes) -> str:
        return self.decrypt(ciphertext, associated_data).decode("utf-8")
