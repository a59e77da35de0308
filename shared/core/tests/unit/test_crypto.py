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


OLD = bytes(range(100, 132))


def test_a_new_key_reads_old_values_and_writes_under_itself() -> None:
    old = FieldCipher(OLD, key_id=1)
    sealed = old.encrypt_text("G360702201001011234", WHERE)
    rotated = FieldCipher(KEY, key_id=2, previous={1: OLD})

    assert sealed[0] == 1
    assert rotated.needs_rotation(sealed)
    assert rotated.decrypt_text(sealed, WHERE) == "G360702201001011234"
    again = rotated.reencrypt(sealed, WHERE)
    assert again[0] == rotated.key_id == 2
    assert not rotated.needs_rotation(again)
    assert rotated.decrypt_text(again, WHERE) == "G360702201001011234"
    # Once the old key is gone, what it made no longer reads; what the new one made does.
    current_only = FieldCipher(KEY, key_id=2)
    assert current_only.decrypt_text(again, WHERE) == "G360702201001011234"
    with pytest.raises(DecryptionFailed, match="key 1"):
        current_only.decrypt(sealed, WHERE)


def test_previous_keys_are_read_from_settings_text() -> None:
    text = f"1:{OLD.hex()}, 7:{bytes(32).hex()}"
    cipher = FieldCipher.from_hex(KEY.hex(), key_id=9, previous=text)
    assert cipher.key_id == 9
    assert cipher.decrypt(FieldCipher(OLD, key_id=1).encrypt(b"v", WHERE), WHERE) == b"v"


@pytest.mark.parametrize(
    "text", ["1", "x:00", f"0:{KEY.hex()}", f"256:{KEY.hex()}", f"1:{KEY.hex()},1:{KEY.hex()}"]
)
def test_malformed_previous_keys_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="key"):
        FieldCipher.from_hex(KEY.hex(), key_id=2, previous=text)


def test_the_current_key_cannot_also_be_a_previous_one() -> None:
    with pytest.raises(ValueError, match="both"):
        FieldCipher(KEY, key_id=1, previous={1: OLD})
