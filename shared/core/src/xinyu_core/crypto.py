"""Encryption of single database fields that must be readable again (not just matched).

AES-256-GCM with a random 96-bit nonce per value, stored as ``nonce || ciphertext || tag``.
The associated data names where the value lives (e.g. ``b"students.student_number"``), so a
ciphertext copied into another column or table no longer decrypts. Matching and uniqueness
belong to a keyed hash stored beside the ciphertext: the same value encrypts differently
every time.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


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


class FieldCipher:
    """One key, one AESGCM object: cheap enough to encrypt a roster's worth of rows."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(f"the field encryption key must be {KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_hex(cls, value: str) -> FieldCipher:
        return cls(key_from_hex(value))

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, ciphertext: bytes, associated_data: bytes) -> bytes:
        if len(ciphertext) < NONCE_BYTES + 16:
            raise DecryptionFailed("the ciphertext is too short")
        try:
            return self._aead.decrypt(
                ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:], associated_data
            )
        except InvalidTag as error:
            raise DecryptionFailed(
                "the ciphertext does not verify under this key and associated data"
            ) from error

    def encrypt_text(self, plaintext: str, associated_data: bytes) -> bytes:
        return self.encrypt(plaintext.encode("utf-8"), associated_data)

    def decrypt_text(self, ciphertext: bytes, associated_data: bytes) -> str:
        return self.decrypt(ciphertext, associated_data).decode("utf-8")
