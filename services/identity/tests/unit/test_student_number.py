from __future__ import annotations

import pytest

from identity.domain.resident_id import ResidentIdProtector
from identity.domain.student_number import ASSOCIATED_DATA, StudentNumberProtector, mask
from xinyu_core.crypto import DecryptionFailed, FieldCipher

NUMBER = "G360702201201010015"
NUMBERS = StudentNumberProtector(ResidentIdProtector(b"k" * 32), FieldCipher(bytes(range(32))))


def test_stored_forms_do_not_contain_the_number_or_the_resident_id() -> None:
    protected = NUMBERS.protect(NUMBER)
    assert protected.masked == "G360702********0015"
    assert protected.keyed_hash == NUMBERS.keyed_hash(NUMBER)
    assert NUMBER[1:] not in protected.keyed_hash
    assert NUMBER[1:].encode() not in protected.cipher
    assert NUMBERS.reveal(protected.cipher) == NUMBER


def test_the_hash_is_keyed_and_stable_the_ciphertext_is_not() -> None:
    other = StudentNumberProtector(ResidentIdProtector(b"j" * 32), FieldCipher(bytes(32)))
    assert NUMBERS.keyed_hash(NUMBER) == NUMBERS.keyed_hash(NUMBER)
    assert NUMBERS.keyed_hash(NUMBER) != other.keyed_hash(NUMBER)
    assert NUMBERS.encrypt(NUMBER) != NUMBERS.encrypt(NUMBER)
    with pytest.raises(DecryptionFailed):
        other.reveal(NUMBERS.encrypt(NUMBER))


def test_a_ciphertext_is_bound_to_its_column() -> None:
    cipher = FieldCipher(bytes(range(32)))
    moved = cipher.encrypt(NUMBER.encode(), b"people.username")
    with pytest.raises(DecryptionFailed):
        NUMBERS.reveal(moved)
    assert ASSOCIATED_DATA == b"students.student_number"


def test_mask_keeps_letter_region_and_last_four() -> None:
    assert mask("L36070320110203123X") == "L360703********123X"
    assert mask("G12") == "G**"
