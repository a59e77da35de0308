from __future__ import annotations

import pytest

from xinyu_core.crypto import DecryptionFailed, FieldCipher, key_from_hex

KEY = bytes(range(32))
WHERE = b"students.student_number"


def test_round_trip_and_fresh_nonce_each_time() -> None:
    cipher = FieldCipher(KEY)
    first = cipher.encrypt_text("G360702201001011234", WHERE)
    second = cipher.encrypt_text("G360702201001011234", WHERE)
    assert first != second
    assert b"360702" not in first
    assert cipher.decrypt_text(first, WHERE) == "G360702201001011234"
    assert cipher.decrypt_text(second, WHERE) == "G360702201001011234"


@pytest.mark.parametrize("position", [0, 12, -1])
def test_tampering_is_detected(position: int) -> None:
    cipher = FieldCipher(KEY)
    sealed = bytearray(cipher.encrypt(b"value", WHERE))
    sealed[position] ^= 0x01
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(bytes(sealed), WHERE)


def test_truncated_ciphertext_is_refused() -> None:
    with pytest.raises(DecryptionFailed):
        FieldCipher(KEY).decrypt(b"short", WHERE)


def test_other_associated_data_does_not_decrypt() -> None:
    cipher = FieldCipher(KEY)
    sealed = cipher.encrypt(b"value", WHERE)
    with pytest.raises(DecryptionFailed):
        cipher.decrypt(sealed, b"people.full_name")


def test_another_key_does_not_decrypt() -> None:
    sealed = FieldCipher(KEY).encrypt(b"value", WHERE)
    with pytest.raises(DecryptionFailed):
        FieldCipher(bytes(32)).decrypt(sealed, WHERE)


@pytest.mark.parametrize("length", [0, 16, 24, 31, 33, 64])
def test_wrong_key_length_is_refused(length: int) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        FieldCipher(b"k" * length)


@pytest.mark.parametrize("value", ["", "00" * 31, "00" * 33, "zz" * 32, "dev-field-key"])
def test_hex_keys_must_be_64_hex_characters(value: str) -> None:
    with pytest.raises(ValueError, match="64 hexadecimal"):
        key_from_hex(value)


def test_hex_key_parses() -> None:
    assert FieldCipher.from_hex(KEY.hex()).decrypt(FieldCipher(KEY).encrypt(b"v", WHERE), WHERE)
    assert key_from_hex(KEY.hex().upper()) == KEY
